import pytest

from dkist_processing_core.framework import Task, Workflow, WorkflowValidationError

from .workflows_for_tests import MakeFrames, MaxFrames, Report, SumFrames, diamond


class A(Task):
    writes = (("A",),)


class B(Task):
    reads = (("A",),)
    writes = (("B",),)


class NeedsC(Task):
    reads = (("C", "X"),)


def problems_of(wf: Workflow) -> list[str]:
    with pytest.raises(WorkflowValidationError) as info:
        wf.validate()
    assert wf.name in str(info.value)
    return info.value.problems


def test_valid_diamond_has_a_topological_order():
    wf = diamond().validate()
    order = wf.task_order
    assert order[0] == "MakeFrames" and order[-1] == "Report"
    assert order.index("SumFrames") < order.index("Report")
    assert set(order) == {"MakeFrames", "SumFrames", "MaxFrames", "Report"}


def test_cycle_is_reported_with_its_path():
    wf = Workflow("cyc", "1")
    wf.add(A, upstreams=["B"])
    wf.add(B, upstreams=["A"])
    (problem,) = problems_of(wf)
    assert problem.startswith("cycle: ")
    assert "A -> B -> A" in problem or "B -> A -> B" in problem


def test_duplicate_task_names():
    wf = Workflow("dup", "1")
    wf.add(A)
    wf.add(A)
    assert any("'A' is used more than once" in p for p in problems_of(wf))


def test_upstream_that_does_not_exist():
    wf = Workflow("missing", "1")
    wf.add(B, upstreams=["Nowhere"])
    assert any("upstream 'Nowhere', which is not in the workflow" in p for p in problems_of(wf))


def test_read_that_no_upstream_writes():
    wf = Workflow("unsatisfied", "1")
    wf.add(A)
    wf.add(NeedsC, upstreams=[A])
    (problem,) = problems_of(wf)
    assert "'NeedsC' reads tags ['C', 'X'] that no upstream task writes" in problem


def test_read_written_by_a_task_that_is_not_upstream_is_rejected():
    # B writes what Report needs... but only an *ancestor's* writes count.
    wf = Workflow("sideways", "1")
    wf.add(MakeFrames)
    wf.add(SumFrames, upstreams=[MakeFrames])
    wf.add(MaxFrames, upstreams=[MakeFrames])
    wf.add(Report, upstreams=[SumFrames])  # MaxFrames is not upstream
    (problem,) = problems_of(wf)
    assert "'Report' reads tags ['MAX']" in problem


def test_provided_tags_satisfy_reads():
    wf = Workflow("provided", "1", provides=[("C", "X", "Y")])
    wf.add(NeedsC)
    wf.validate()


def test_every_problem_is_reported_at_once():
    wf = Workflow("many", "1")
    wf.add(A)
    wf.add(A)
    wf.add(B, upstreams=["Ghost"])
    problems = problems_of(wf)
    assert len(problems) == 2


def test_not_a_task_class():
    wf = Workflow("bad", "1")
    wf.add(dict)  # type: ignore[arg-type]
    assert any("is not a Task subclass" in p for p in problems_of(wf))


def test_bad_declarations_fail_at_class_definition():
    with pytest.raises(TypeError, match="must be a tuple of tag queries"):

        class Bad(Task):
            reads = ("INPUT", "DARK")  # a flat tuple, not a tuple of queries


def test_drawings_name_every_task_and_edge():
    wf = diamond()
    dot = wf.to_dot()
    assert '"MakeFrames" -> "SumFrames";' in dot and '"MaxFrames" -> "Report";' in dot
    mermaid = wf.to_mermaid(links={"Report": "https://example.org/report"})
    assert mermaid.startswith("flowchart LR")
    assert "SumFrames --> Report" in mermaid
    assert 'click Report "https://example.org/report"' in mermaid
