"""local/costs.py: the demo's batch replayed by the simulator on the seed's Fargate and EKS shapes."""
from local import costs


def _jobs(count: int) -> tuple[list[dict], dict[str, float]]:
    ops = ("grayscale", "thumbnail", "watermark")
    jobs, uploads = [], {}
    for i in range(count):
        op = ops[i % 3]
        key = f"input/{op}/u-local/p{i}.jpg"
        uploads[key] = 1000.0 + i * 0.05
        jobs.append({"spec": {"key": key, "op": op}, "status": {"phase": "Done", "durationMs": 400 + 10 * (i % 7)}})
    jobs.append({"spec": {"key": "input/thumbnail/u-local/bad.jpg", "op": "thumbnail"},
                 "status": {"phase": "Failed", "reason": "corrupt image"}})  # no durationMs: nothing measured
    return jobs, uploads


def test_the_batch_is_priced_under_ballast_and_keda_on_fargate_and_eks():
    jobs, uploads = _jobs(300)
    rows = costs.estimate(jobs, uploads)
    assert {(r["platform"], r["policy"]) for r in rows} == {(p, q) for p in ("Fargate", "EKS") for q in ("ballast", "keda")}
    assert all(r["cost"] > 0 and r["makespan_s"] > 0 for r in rows)
    by = {(r["platform"], r["policy"]): r["cost"] for r in rows}
    assert by[("EKS", "ballast")] < by[("EKS", "keda")]


def test_a_run_that_measured_nothing_prices_nothing():
    assert costs.estimate([], {}) == []
