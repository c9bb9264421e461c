"""Turn report.py's raw ``results.json`` into ``report.md`` and ``report.png``.

python bench/summarize.py [bench/results/results.json]   # re-render without re-measuring
"""

from __future__ import annotations

import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
from report import TARGETS  # noqa: E402

LABELS = dict(
    common.METHOD_LABELS,
    cython_net="cython `Network.train_batch` loop (no `fit`)",
    blas_only="the step's sgemm calls alone (ceiling)",
)
MIN_KEPT = 3


def _median(values):
    return statistics.median(values) if values else float("nan")


def _fmt(value: float, digits: int = 1) -> str:
    if value is None or value != value:
        return "–"
    if abs(value) >= 1e5:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ratio(a, b) -> str:
    if a is None or b is None or b != b or a != a or b == 0:
        return "–"
    return f"{a / b:.2f}×" if a / b < 10 else f"{a / b:.0f}×"


# ---------------------------------------------------------------------------------------- analysis
def analyse(results: dict) -> dict:
    keep = results.get("probe_keep", 0.85)
    best = max(results["probes"]) if results["probes"] else float("nan")
    threshold = keep * best
    training: dict = {}
    for workload_name, workload in common.WORKLOADS.items():
        rounds = [r for r in results["rounds"] if r["workload"] == workload_name]
        if not rounds:
            continue
        kept = [r for r in rounds if min(r["probe_before"], r["probe_after"]) >= threshold]
        used = kept if len(kept) >= MIN_KEPT else rounds
        per_label: dict = {}
        labels = {label for r in used for label in r["times"]}
        for label in labels:
            seconds = _median([_median(r["times"][label]) for r in used if label in r["times"]])
            spread = [_median(r["times"][label]) for r in used if label in r["times"]]
            per_label[label] = {
                "fit_s": seconds,
                "us_per_step": 1e6 * seconds / workload.steps,
                "samples_per_s": workload.samples * workload.epochs / seconds,
                "gflops": workload.flops_per_step * workload.steps / seconds / 1e9,
                "round_min_us": 1e6 * min(spread) / workload.steps,
                "round_max_us": 1e6 * max(spread) / workload.steps,
            }
        training[workload_name] = {
            "rounds": len(rounds),
            "kept": len(kept),
            "used_all_rounds": len(kept) < MIN_KEPT,
            "methods": per_label,
        }
    peak = {}
    for library in ("scipy", "numpy"):
        readings = [v for run in results.get("peak", {}).values() for v in run.get(library, [])]
        peak[library] = max(readings) if readings else float("nan")
    predict = {}
    rounds = results.get("predict_rounds", [])
    kept = [r for r in rounds if min(r["probe_before"], r["probe_after"]) >= threshold]
    used = kept if len(kept) >= MIN_KEPT else rounds
    keys = {k for r in used for k in r["per_call"]}
    for key in keys:
        predict[key] = 1e6 * _median([_median(r["per_call"][key]) for r in used if key in r["per_call"]])
    return {
        "threshold": threshold,
        "best_probe": best,
        "training": training,
        "peak": peak,
        "predict": predict,
        "predict_kept": f"{len(kept)} of {len(rounds)}",
    }


def first_call_effect(results: dict, analysis: dict, threshold: float = 1.15) -> list[str]:
    """Bullets for (workload, method) whose first timed fit per round is > ``threshold`` x the later ones."""
    keep = analysis["threshold"]
    out = []
    for name in common.WORKLOADS:
        rounds = [r for r in results["rounds"] if r["workload"] == name]
        kept = [r for r in rounds if min(r["probe_before"], r["probe_after"]) >= keep] or rounds
        labels = sorted({label for r in kept for label in r["times"]})
        for label in labels:
            firsts = [r["times"][label][0] for r in kept if len(r["times"].get(label, [])) >= 2]
            rests = [t for r in kept if len(r["times"].get(label, [])) >= 2 for t in r["times"][label][1:]]
            if len(firsts) < 2:
                continue
            a, b = statistics.mean(firsts), statistics.mean(rests)
            if a > threshold * b:
                out.append(f"* {name}, {LABELS[label]}: first {1e3 * a:.0f} ms, then {1e3 * b:.0f} ms ({a / b:.2f}×)")
    return out


def _training_value(analysis, workload, method, key):
    return analysis["training"].get(workload, {}).get("methods", {}).get(method, {}).get(key)


def checklist(results: dict, analysis: dict) -> list[tuple[str, bool | None, str]]:
    """(target, met (None = not measurable), measured)."""
    items = []

    def sps(w, m):
        return _training_value(analysis, w, m, "samples_per_s")

    for workload in ("tiny", "digits"):
        goal = TARGETS[workload]
        c, loop, torch = sps(workload, "cython"), sps(workload, "numpy_loop"), sps(workload, "torch")
        if c and loop:
            items.append(
                (
                    f"{workload}: cython ≥ {goal['vs_loop']:.0f}× the NumPy loop (samples/s)",
                    c / loop >= goal["vs_loop"],
                    f"{c / loop:.1f}×",
                )
            )
        else:
            items.append((f"{workload}: cython ≥ {goal['vs_loop']:.0f}× the NumPy loop", None, "not measured"))
        if c and torch:
            items.append(
                (
                    f"{workload}: cython ≥ {goal['vs_torch']:.0f}× torch (samples/s)",
                    c / torch >= goal["vs_torch"],
                    f"{c / torch:.1f}×",
                )
            )
        else:
            items.append((f"{workload}: cython ≥ {goal['vs_torch']:.0f}× torch", None, "not measured"))
        if "us_per_step" in goal:
            us = _training_value(analysis, workload, "cython", "us_per_step")
            items.append(
                (
                    f"{workload}: ≤ ~{goal['us_per_step']} µs/step through fit",
                    None if us is None else us <= goal["us_per_step"],
                    "not measured" if us is None else f"{us:.2f} µs/step",
                )
            )
    for workload in ("mnist-like", "wide"):
        goal = TARGETS[workload]["peak_fraction"]
        g = _training_value(analysis, workload, "cython", "gflops")
        peak = analysis["peak"]["scipy"]
        if g:
            items.append(
                (
                    f"{workload}: cython ≥ {goal:.0%} of the sgemm peak",
                    g / peak >= goal,
                    f"{g / peak:.1%} ({g:.0f} of {peak:.0f} GFLOP/s)",
                )
            )
        else:
            items.append((f"{workload}: cython ≥ {goal:.0%} of the sgemm peak", None, "not measured"))
    p = analysis["predict"]
    goal = TARGETS["predict_one"]
    one, torch_one = p.get("cython/one"), p.get("torch/one")
    if one and torch_one:
        items.append(
            (
                f"predict one sample (10→32→2): ≥ {goal['vs_torch']:.0f}× faster than torch no_grad",
                torch_one / one >= goal["vs_torch"],
                f"{torch_one / one:.1f}× ({one:.2f} vs {torch_one:.2f} µs/call)",
            )
        )
    else:
        items.append((f"predict one sample: ≥ {goal['vs_torch']:.0f}× faster than torch", None, "not measured"))
    for kind, call in (("one", "predict"), ("on_batch", "predict_on_batch"), ("call", "model(x)")):
        value = p.get(f"cython/{kind}")
        if value:
            items.append(
                (
                    f"{call} one sample: ≤ {goal['us_per_call']} µs/call",
                    value <= goal["us_per_call"],
                    f"{value:.2f} µs/call",
                )
            )
    ort = p.get("onnxruntime/one")
    if one and ort:
        items.append(
            ("predict one sample: faster than onnxruntime", one < ort, f"{ort / one:.1f}× ({ort:.2f} µs/call)")
        )
    alloc = results.get("allocations", {}).get("cython")
    if alloc and alloc.get("exact_counter"):
        per_step = []
        for w, entry in alloc["workloads"].items():
            tb = entry.get("train_batch", {})
            per_step.append(
                (w, tb.get("allocations", 0) / max(1, tb.get("steps", 1)), entry.get("fit", {}).get("per_step", 0))
            )
        ok = all(a == 0 and f <= 0 for _, a, f in per_step)
        text = "; ".join(f"{w}: {a:g}/train_batch, {f:g}/fit step" for w, a, f in per_step)
        items.append(("no NumPy allocation per training step after warm-up (cython)", ok, text))
    else:
        items.append(("no NumPy allocation per training step after warm-up (cython)", None, "not measured"))
    memory = {(m["workload"], m["method"]): m for m in results.get("memory", [])}
    rss_lines, rss_ok = [], []
    for workload in sorted({w for w, _ in memory}):
        c, n = memory.get((workload, "cython")), memory.get((workload, "numpy"))
        if c is not None and n is not None:
            rss_ok.append(c["peak_mb"] <= n["peak_mb"] + TARGETS["rss_extra_mb"])
            rss_lines.append(
                f"{workload}: {c['peak_mb']:.0f} vs {n['peak_mb']:.0f} MB (after imports "
                f"{c.get('rss_after_import_mb', 0):.0f} vs {n.get('rss_after_import_mb', 0):.0f}; "
                f"growth in fit {c['peak_mb'] - c['rss_before_mb']:.1f} vs {n['peak_mb'] - n['rss_before_mb']:.1f})"
            )
    items.append(
        (
            f"peak RSS cython ≤ numpy backend + {TARGETS['rss_extra_mb']:.0f} MB",
            all(rss_ok) if rss_ok else None,
            "; ".join(rss_lines) or "not measured",
        )
    )
    checks = results.get("checks", {})
    diffs, oks = [], []
    for workload in common.WORKLOADS:
        c, n = checks.get(f"cython/{workload}"), checks.get(f"numpy/{workload}")
        if c and n:
            rel = abs(c["final_loss"] - n["final_loss"]) / max(abs(n["final_loss"]), 1e-12)
            oks.append(rel <= TARGETS["loss_rtol"])
            diffs.append(f"{workload}: {rel:.1e}")
    items.append(
        (
            f"same final loss cython vs numpy (relative difference ≤ {TARGETS['loss_rtol']:g})",
            all(oks) if oks else None,
            "; ".join(diffs) or "not measured",
        )
    )
    return items


# ---------------------------------------------------------------------------------------- markdown
def markdown(results: dict, analysis: dict) -> str:
    lines = ["# cyneuron benchmark report", ""]
    peak = analysis["peak"]
    blas = results.get("workers", {}).get("probe", {}).get("blas", [])
    kernels = ", ".join(
        f"{os.path.basename(b.get('filepath') or '?')}: {b.get('architecture')} ×{b.get('num_threads')}" for b in blas
    )
    workers = results.get("workers", {})
    torch_info = workers.get("torch", {})
    probe = workers.get("probe", {})
    env_outside = results["openblas_env_outside"]
    torch_text = f", torch {torch_info.get('torch')} ({torch_info.get('torch_threads')} threads)" if torch_info else ""
    if workers.get("jax"):
        torch_text += f", jax {workers['jax'].get('jax')}"
    if results["openblas_env_unset"]:
        env_text = (
            f"* `{' and '.join(env_outside)}` (set on this host: {env_outside}) were **unset** in the benchmark "
            "processes, so OpenBLAS picks its kernel for this CPU; the tests never change them."
        )
    else:
        env_text = f"* OpenBLAS environment kept as on the host: {env_outside}."
    lines += [
        f"Run {results['started']} ({'quick' if results['quick'] else 'full'}, {results.get('elapsed_s', 0):.0f} s), "
        f"Python {results['machine']['python']}, {results['machine']['cpus']} CPUs, numpy {probe.get('numpy', '?')}, "
        f"scipy {probe.get('scipy', '?')}{torch_text}. Code: commit {results.get('git', 'unknown')}.",
        "",
        f"* sgemm peak (2 threads, float32, square {4096 if not results['quick'] else 2048}): scipy's BLAS (the one "
        f"cyneuron's kernels call) **{peak['scipy']:.0f} GFLOP/s**, numpy's BLAS {peak['numpy']:.0f} GFLOP/s "
        "(best reading, start and end of the run).",
        f"* BLAS kernels in use (threadpoolctl): {kernels or 'unknown'}.",
        env_text,
        f"* Noise control: a 2-thread 1024² sgemm probe before and after every round; rounds probing below "
        f"{analysis['threshold']:.0f} GFLOP/s ({results.get('probe_keep', 0.85):.0%} of the best probe, "
        f"{analysis['best_probe']:.0f}) are dropped. Values are medians over kept rounds; methods are interleaved "
        "within each round, each in its own process.",
        "* Phases (s): " + ", ".join(f"{k} {v:.0f}" for k, v in results.get("phases", {}).items()) + ".",
        "* Major page faults inside timed calls (code or data read back after the host reclaimed idle pages): "
        + (
            ", ".join(
                f"{m} {f['major_faults']} in {f['timed_calls_with_major_faults']} calls"
                for m, f in results.get("faults", {}).items()
                if m != "probe"
            )
            or "not recorded"
        )
        + ".",
        "* FLOPs per training step = 6·batch·Σ(in·out) (forward product + the two backward products; bias, "
        "activations, loss and the update not counted); for the convolution and recurrent workloads (`cnn`, "
        "`lstm`: cyneuron and torch only) 6·batch·(forward multiply-adds per sample).",
        "",
    ]
    for key, reason in results.get("skipped", {}).items():
        lines.append(f"* Skipped {key}: {reason}")
    if results.get("skipped"):
        lines.append("")

    lines += ["## Training through `fit` (float32, SGD lr 0.01, sparse categorical cross-entropy, shuffled)", ""]
    lines += [
        "| workload | method | µs/step | samples/s | vs NumPy loop | vs numpy backend | vs torch | GFLOP/s "
        "| % sgemm peak |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, workload in common.WORKLOADS.items():
        entry = analysis["training"].get(name)
        if not entry:
            continue
        methods = entry["methods"]
        ref = {m: methods.get(m, {}).get("samples_per_s") for m in ("numpy_loop", "numpy", "torch")}
        note = (
            f" ({entry['kept']}/{entry['rounds']} rounds kept{', noisy: all used' if entry['used_all_rounds'] else ''})"
        )
        first = True
        for method in ("cython", "cython_net", "numpy", "numpy_loop", "torch", "jax", "blas_only"):
            if method not in methods:
                continue
            m = methods[method]
            peak_cell = f"{m['gflops'] / peak['scipy']:.1%}" if name in ("mnist-like", "wide") else "–"
            title = "**" + name + "**<br>" + workload.describe() + note if first else ""
            speed = m["samples_per_s"]
            lines.append(
                f"| {title} | {LABELS[method]} | {_fmt(m['us_per_step'], 2)} | {_fmt(speed, 0)} | "
                f"{_ratio(speed, ref['numpy_loop'])} | {_ratio(speed, ref['numpy'])} | {_ratio(speed, ref['torch'])} | "
                f"{_fmt(m['gflops'], 1)} | {peak_cell} |"
            )
            first = False
    lines.append("")
    lines.append(
        "`cython Network.train_batch loop` is the backend's training step called directly (no `fit`): the gap to "
        "`fit` is the front end's per-call and per-epoch overhead. `the step's sgemm calls alone` runs only the "
        "BLAS products one step needs (forward, weight gradients, input gradients but the first layer's) through "
        "scipy's sgemm on preallocated arrays: no implementation calling this BLAS can beat it."
    )
    lines.append("")

    p = analysis["predict"]
    lines += [
        "## Prediction (the notes' 10→32→2 model, float32)",
        "",
        f"Rounds kept: {analysis['predict_kept']}. Every call gets data already in its final dtype and layout. "
        "cyneuron: `predict(x, verbose=0)`, `predict_on_batch(x)` and `model(x)` on one sample, "
        "`predict(x, batch_size=1000, verbose=0)` on 1,000; onnxruntime: `InferenceSession.run` on cyneuron's "
        'own `model.export(..., format="onnx")` file (1 intra-op thread); torch: `model(torch.from_numpy(x))'
        ".numpy()` under `torch.no_grad()` (2 threads); JAX: a jitted apply, `np.asarray` of its output; all "
        "with the softmax.",
        "",
        "| method | call | 1 sample: µs/call | vs torch | vs onnxruntime | 1,000 samples: µs/call | vs torch |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    calls = {"one": "predict", "on_batch": "predict_on_batch", "call": "model(x)"}
    peer_call = {"torch": "no_grad forward", "onnxruntime": "session.run", "jax": "jitted apply"}
    torch_one, ort_one = p.get("torch/one"), p.get("onnxruntime/one")
    for method in ("cython", "numpy", "onnxruntime", "torch", "jax", "numpy_loop"):
        for kind in ("one", *common.PREDICT_ONE_CALLS.get(method, ())):
            one = p.get(f"{method}/{kind}")
            if one is None:
                continue
            batch = p.get(f"{method}/batch") if kind == "one" else None
            name = calls[kind] if method in common.PREDICT_ONE_CALLS else peer_call.get(method, "forward")
            lines.append(
                f"| {LABELS[method]} | {name} | {_fmt(one, 2)} | {_ratio(torch_one, one)} | {_ratio(ort_one, one)} "
                f"| {_fmt(batch, 1)} | {_ratio(p.get('torch/batch'), batch) if batch else '–'} |"
            )
    lines.append("")

    memory = results.get("memory", [])
    if memory:
        lines += [
            "## Memory: peak RSS of one training run (fresh process per method)",
            "",
            'Peak = VmHWM after resetting it (`/proc/self/clear_refs`) just before `fit`; "after imports" is the '
            "process with the method's libraries imported, before any data.",
            "",
            "| workload | method | RSS after imports (MB) | RSS before fit (MB) | peak RSS during fit (MB) "
            "| growth in fit (MB) |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for m in memory:
            lines.append(
                f"| {m['workload']} | {LABELS[m['method']]} | {m.get('rss_after_import_mb', float('nan')):.0f} | "
                f"{m['rss_before_mb']:.0f} | {m['peak_mb']:.0f} | {m['peak_mb'] - m['rss_before_mb']:.1f} |"
            )
        lines.append("")
    allocations = results.get("allocations", {})
    if allocations:
        lines += [
            "## NumPy allocations per training step after warm-up",
            "",
            "Exact count of NumPy array-data allocations (a counting NumPy memory handler installed through "
            "`PyDataMem_SetHandler`) over 100 `Network.train_batch` steps, and over whole `fit` calls split into "
            "per step (1-epoch fits of 20 vs 60 batches), per epoch (2 vs 1 epochs) and per call; tracemalloc on "
            "NumPy's domain shows NumPy memory still held after the 100 steps and the transient peak (all domains) "
            "during them.",
            "",
            "| method | workload | per `train_batch` | per `fit` step | per `fit` epoch | per `fit` call | "
            "tracemalloc: held after 100 steps | transient peak |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for method, data in allocations.items():
            for workload, entry in data["workloads"].items():
                tb = entry.get("train_batch")
                fit = entry.get("fit", {})
                tm = entry.get("train_batch_tracemalloc", {})
                per_batch = "–" if not tb else f"{tb['allocations'] / tb['steps']:g}"
                held = "–" if not tm else f"{tm['held_bytes']} B"
                transient = "–" if not tm else f"{tm['peak_over_start']:,} B"
                lines.append(
                    f"| {LABELS[method]} | {workload} | {per_batch} | {_fmt(fit.get('per_step'), 2)} | "
                    f"{_fmt(fit.get('per_epoch'), 0)} | {_fmt(fit.get('per_call'), 0)} | {held} | {transient} |"
                )
        lines.append("")
    checks = results.get("checks", {})
    if checks:
        lines += [
            "## Same start, same answer: loss over the training set before and after one seeded run",
            "",
            "| workload | "
            + " | ".join(LABELS[m] for m in common.METHODS if any(k.startswith(m + "/") for k in checks))
            + " |",
            "|---|" + "---:|" * len([m for m in common.METHODS if any(k.startswith(m + "/") for k in checks)]),
        ]
        for workload in common.WORKLOADS:
            cells = []
            for method in common.METHODS:
                if not any(k.startswith(method + "/") for k in checks):
                    continue
                c = checks.get(f"{method}/{workload}")
                cells.append("–" if not c else f"{c['initial_loss']:.5f} → {c['final_loss']:.5f}")
            if any(cell != "–" for cell in cells):
                lines.append(f"| {workload} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Every method starts from the same weights (same initial loss); the cython and numpy backends also share "
            "the shuffle order (same `set_random_seed`), so their final losses should agree to float32 rounding; the "
            "NumPy loop and torch shuffle with their own generators and agree only statistically.",
            "",
        ]

    notes = []
    for name in ("mnist-like", "wide"):
        w = common.WORKLOADS[name]
        g = _training_value(analysis, name, "cython", "gflops")
        net = _training_value(analysis, name, "cython_net", "gflops")
        if g is None:
            continue
        ratio = w.flops_needed_per_step / w.flops_per_step
        net_text = f", the bare `train_batch` loop {net / peak['scipy']:.1%}" if net else ""
        notes.append(
            f"* {name}: {w.flops_per_step / 1e6:,.1f} MFLOP per step by the 6·batch·Σ(in·out) count used above "
            f"(through `fit` {g / peak['scipy']:.1%} of the peak{net_text}). No method computes the first layer's "
            f"input gradient, so the work actually needed is {w.flops_needed_per_step / 1e6:,.1f} MFLOP "
            f"({ratio:.0%} of the count): by that measure `fit` runs at {g * ratio / peak['scipy']:.1%} of the peak."
        )
    if notes:
        lines += ["## Notes on the FLOP count", "", *notes, ""]
    first = first_call_effect(results, analysis)
    if first:
        lines += [
            "## First fit of a measurement vs the following ones (same process, back to back)",
            "",
            "Each measurement repeats `fit` until 0.25 s are spent; the table above takes the median of those fits. "
            "Where the first fit after the process sat idle (while the other methods ran) is markedly slower, "
            "it shows here (ms per fit, mean over kept rounds):",
            "",
            *first,
            "",
        ]

    lines += ["## Targets", ""]
    for target, met, measured in checklist(results, analysis):
        mark = "[x]" if met else "[ ]"
        status = "met" if met else ("not measured" if met is None else "**missed**")
        lines.append(f"- {mark} {target} — {status}: {measured}")
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- chart
def chart(results: dict, analysis: dict, path: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no chart"
    methods = [m for m in ("cython", "numpy", "numpy_loop", "torch", "jax") if m in common.METHODS]
    colours = {
        "cython": "#1b9e77",
        "numpy": "#7570b3",
        "numpy_loop": "#d95f02",
        "torch": "#e7298a",
        "jax": "#66a61e",
        "onnxruntime": "#a6761d",
    }
    workloads = [w for w in common.WORKLOADS if w in analysis["training"]]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 1.3]})
    ax = axes[0]
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        values = [_training_value(analysis, w, method, "samples_per_s") or 0 for w in workloads]
        xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(workloads))]
        bars = ax.bar(xs, values, width, label=common.METHOD_LABELS[method], color=colours[method])
        for bar, v in zip(bars, values):
            if v:
                ax.annotate(f"{v:.2g}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(
        [
            f"{w}\n{_shape_label(common.WORKLOADS[w])}, b{common.WORKLOADS[w].batch_size}"
            for w in workloads
        ],
        fontsize=8,
    )
    ax.set_ylabel("training samples / s (log)")
    ax.set_title("Training throughput through fit (higher is better)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax = axes[1]
    p = analysis["predict"]
    names = [m for m in (*methods, "onnxruntime") if f"{m}/one" in p]
    ax.barh(range(len(names)), [p[f"{m}/one"] for m in names], color=[colours[m] for m in names])
    for j, m in enumerate(names):
        ax.annotate(f" {p[f'{m}/one']:.1f} µs", (p[f"{m}/one"], j), va="center", fontsize=8)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([common.METHOD_LABELS[m] for m in names], fontsize=8)
    ax.set_xlabel("µs per call (lower is better)")
    ax.set_title("predict, 1 sample, 10→32→2")
    ax.set_xlim(0, max([p[f"{m}/one"] for m in names] or [1]) * 1.35)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def write_report(results: dict, out: str) -> str:
    analysis = analyse(results)
    text = markdown(results, analysis)
    problem = chart(results, analysis, os.path.join(out, "report.png"))
    if problem:
        text += f"\n_{problem}_\n"
    else:
        text += "\n![throughput chart](report.png)\n"
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "analysis.json"), "w") as f:
        json.dump(analysis, f, indent=1)
    return text


def _shape_label(workload) -> str:
    """An MLP's widths (1→16→32→2), or a layer workload's kind and input shape (cnn 16x16x3)."""
    widths = getattr(workload, "widths", None)
    if widths is not None:
        return "→".join(map(str, widths))
    return f"{workload.kind} {'x'.join(map(str, workload.input_shape))}"


if __name__ == "__main__":
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results", "results.json")
    with open(source) as f:
        data = json.load(f)
    print(write_report(data, os.path.dirname(os.path.abspath(source))))

