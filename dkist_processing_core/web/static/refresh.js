// Light progressive refresh: a page marked data-refresh="N" re-reads its main part every N
// seconds while nobody is typing in it. Without JavaScript the page is the same, just static.
(function () {
  var seconds = parseInt(document.body.dataset.refresh || "0", 10);
  if (!seconds || !window.fetch || !window.DOMParser) return;
  setInterval(function () {
    if (document.hidden) return;
    var active = document.activeElement;
    if (active && /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(active.tagName)) return;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        var main = document.getElementById("main");
        if (fresh && main) main.innerHTML = fresh.innerHTML;
      })
      .catch(function () {});
  }, seconds * 1000);
})();
