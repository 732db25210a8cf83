"""Encoder backends, and the one chosen for this machine by measurement.

A backend (a *runner*) turns padded token ids + attention mask into the last hidden states
``[batch, tokens, dim]`` (float32 numpy); :class:`~nlp.families.encoders.encoder.TextEncoder` pools them:

========== =================================================================================
``fp32``   the ``transformers`` model in float32 (torch); the reference every other one is checked against
``int8``   torch W8A8 per-token layers with ``torch._int_mm`` (fast where the CPU has VNNI/AMX kernels; on
           AVX2-only CPUs the same product is ~40x slower than float32)
``bf16``   torch autocast to bfloat16; a candidate only where the CPU has native bf16 (AVX512-BF16, AMX) or on CUDA
``onnx-fp32`` ONNX Runtime, float32 graph (:mod:`.onnx_export`)
``onnx-int8`` ONNX Runtime, per-token W8A8 graph (MLAS integer kernels for AVX2 as well as VNNI)
========== =================================================================================

``auto`` (the default) measures the candidates once per machine and checkpoint on a fixed sample of
survey-like sentences, keeps those whose vectors stay within cosine :data:`PARITY_COSINE` of ``fp32``,
and takes the fastest. The choice and the timings are cached in ``cache_dir()/encoders/backends.json``
under a key of the CPU model, its flags, the thread count, library versions and the checkpoint;
``CXLENS_ENCODER_BACKEND=auto|fp32|int8|bf16|onnx-fp32|onnx-int8`` overrides the choice. A backend
that is missing (no ``onnxruntime``) or fails to build falls back to ``fp32`` with a warning.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import platform
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...config import cache_dir
from ...errors import DataError
from ...locks import atomic_write_text, dir_lock

BACKENDS = ("fp32", "int8", "bf16", "onnx-fp32", "onnx-int8")
ENV_VAR = "CXLENS_ENCODER_BACKEND"
PARITY_COSINE = 0.998
#: a candidate must be this much faster than the best so far to replace it (timing noise)
MIN_GAIN = 1.05
#: a candidate whose one-text probe is this many times slower than fp32's is not measured further
PROBE_SLOWDOWN = 4.0
CHOICE_VERSION = 1

#: the fixed measurement sample: survey comments of typical length (about 30 tokens with the prefix)
SAMPLE_TEXTS = (
    "Менеджер всегда на связи, отвечает быстро и по делу, спасибо за работу.",
    "Доставка опоздала на три дня, а в службе поддержки никто не взял трубку.",
    "Счета приходят с ошибками, каждый месяц приходится звонить в бухгалтерию и разбираться.",
    "Инженер приехал вовремя, быстро нашёл неисправность и всё объяснил.",
    "Цены выросли, а качество обслуживания осталось прежним.",
    "Удобный личный кабинет, но мобильное приложение часто зависает при оплате.",
    "В целом всё устраивает, рекомендую коллегам.",
    "Офис сложно найти, парковки нет, зато сотрудники на ресепшене приветливые.",
    "The sales manager was helpful, but the delivery took two weeks longer than promised.",
    "Support answered within an hour and fixed the billing mistake.",
    "Great product, terrible invoicing: we were charged twice for the same order.",
    "Nothing special, the service is fine.",
    "Продукт хороший, но техподдержка отвечает по три дня, это неприемлемо для нашего бизнеса.",
    "Спасибо вашему сервисному инженеру Андрею, он спас нам запуск линии.",
    "Бренд известный, но за эти деньги ожидали большего.",
    "Why does it take a month to get a simple quote from your sales team?",
)

Runner = Callable[[np.ndarray, np.ndarray], np.ndarray]


def requested_backend(value: str | None = None) -> str:
    """``$CXLENS_ENCODER_BACKEND`` when set, else ``value`` (default ``auto``); validated."""
    env = os.environ.get(ENV_VAR, "").strip().lower()
    choice = env or (value or "auto").strip().lower()
    if choice not in ("auto", *BACKENDS):
        field = ENV_VAR if env else "backend"
        raise DataError(field=field, expected=f"one of {['auto', *BACKENDS]}", found=choice)
    return choice


# --------------------------------------------------------------------------------------------- the CPU
_RELEVANT = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
             "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "bf16", "sve")


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """CPU model, architecture, its SIMD flags (those relevant to matrix kernels) and a hash of all flags
    (read once per process)."""
    model, flags = platform.processor() or "", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, val = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model", "hardware") and not model:
                    model = val.strip()
                elif key in ("flags", "features") and not flags:
                    flags = val.strip()
                if model and flags:
                    break
    except OSError:
        pass
    all_flags = sorted(set(flags.split()))
    return {"model": model or "unknown", "arch": platform.machine(), "cores": os.cpu_count(),
            "flags": [f for f in _RELEVANT if f in all_flags],
            "flags_sha": hashlib.sha256(" ".join(all_flags).encode()).hexdigest()[:16]}


def native_bf16(info: dict[str, Any] | None = None) -> bool:
    flags = set((info or cpu_info())["flags"])
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for mod in ("torch", "onnxruntime", "transformers"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = None
    return out


# --------------------------------------------------------------------------------------------- runners
def _torch_runner(model, device: str, *, autocast: bool = False) -> Runner:
    import torch

    def run(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ids = torch.from_numpy(input_ids).to(device)
        m = torch.from_numpy(mask).to(device)
        with torch.inference_mode(), torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16,
                                                    enabled=autocast):
            hidden = model(input_ids=ids, attention_mask=m).last_hidden_state
        return hidden.float().cpu().numpy()

    return run


def int8_model(model):
    """A W8A8 copy of ``model`` that shares its embedding tables (no second copy of the 250k-row table)."""
    from .encoder import quantize_int8

    memo = {id(p): p for n, p in model.named_parameters() if "embeddings" in n}
    return quantize_int8(copy.deepcopy(model, memo))


def int_mm_works() -> bool:
    """``torch._int_mm`` exists and is correct here (says nothing about its speed)."""
    import torch

    try:
        a = torch.ones((3, 32), dtype=torch.int8)
        return int(torch._int_mm(a, torch.ones((32, 8), dtype=torch.int8))[0, 0]) == 32
    except (AttributeError, RuntimeError, TypeError):
        return False


def build_runner(name: str, encoder) -> Runner:
    """The runner of backend ``name`` for a loaded :class:`~nlp.families.encoders.encoder.TextEncoder`; raises
    ``RuntimeError``/``ImportError``/``OSError`` when it cannot be built here."""
    model, device = encoder.model, encoder.device
    if name == "fp32":
        return _torch_runner(model, device)
    if name == "bf16":
        return _torch_runner(model, device, autocast=True)
    if name == "int8":
        if device != "cpu":
            raise RuntimeError("int8 runs on the CPU only")
        if not int_mm_works():
            raise RuntimeError("torch._int_mm is not available")
        return _torch_runner(int8_model(model), "cpu")
    if name in ("onnx-fp32", "onnx-int8"):
        if device != "cpu":
            raise RuntimeError("ONNX Runtime backends are used on the CPU only")
        import onnxruntime  # noqa: F401  (ImportError when not installed)
        import torch

        from .onnx_export import OnnxRunner, ensure_graph

        graph = ensure_graph(model, encoder.fingerprint, name.split("-")[1])
        table = model.get_input_embeddings().weight.detach().numpy()
        return OnnxRunner(graph, table, threads=torch.get_num_threads())
    raise DataError(field="backend", expected=f"one of {list(BACKENDS)}", found=name)


# --------------------------------------------------------------------------------------------- the choice
def choices_path() -> Path:
    return cache_dir() / "encoders" / "backends.json"


def choice_key(encoder) -> tuple[str, dict[str, Any]]:
    import torch

    info = cpu_info()
    basis = {"v": CHOICE_VERSION, "cpu": info["model"], "arch": info["arch"], "flags_sha": info["flags_sha"],
             "threads": torch.get_num_threads(), "device": encoder.device, "libraries": library_versions(),
             "encoder": encoder.fingerprint}
    key = hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:20]
    return key, {**basis, "cpu_flags": info["flags"]}


def read_choices(path: Path | None = None) -> dict[str, Any]:
    try:
        data = json.loads((path or choices_path()).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_choice(key: str, record: dict[str, Any], path: Path | None = None) -> None:
    path = path or choices_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with dir_lock(path.parent):  # two processes measuring at once keep both records
            atomic_write_text(path, json.dumps({**read_choices(path), key: record}, ensure_ascii=False, indent=1))
    except OSError as e:  # a read-only cache only costs a re-measurement next time
        warnings.warn(f"cannot store the encoder backend choice in {path}: {e}", RuntimeWarning, stacklevel=2)


def candidates(encoder) -> list[str]:
    """Backends worth measuring on this machine, in order of preference at equal speed."""
    if encoder.device != "cpu":
        return ["fp32", "bf16"]
    out = ["fp32", "onnx-fp32", "onnx-int8", "int8"]
    if native_bf16():
        out.append("bf16")
    return out


def pick(results: dict[str, dict[str, Any]], order: list[str]) -> str:
    """The fastest backend that passed parity; a later one replaces an earlier one only when it is at least
    :data:`MIN_GAIN` times faster. ``fp32`` when nothing else passed."""
    best, best_rate = "fp32", 0.0
    for name in order:
        r = results.get(name) or {}
        if not r.get("ok"):
            continue
        rate = float(r.get("texts_per_s") or 0.0)
        if best_rate == 0.0 or rate >= best_rate * MIN_GAIN:
            best, best_rate = name, rate
    return best


def _time(fn: Callable[[], Any], *, min_s: float = 0.3, max_reps: int = 5) -> float:
    """Best wall time of ``fn`` over a few repetitions (at least one, until ``min_s`` has passed)."""
    best, spent, reps = float("inf"), 0.0, 0
    while reps < max_reps and (reps < 2 or spent < min_s):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, reps = min(best, dt), spent + dt, reps + 1
    return best


def measure(encoder, names: list[str], *, build: Callable[[str, Any], Runner] = build_runner,
            texts: tuple[str, ...] = SAMPLE_TEXTS, log: Callable[[str], None] | None = None
            ) -> tuple[dict[str, dict[str, Any]], dict[str, Runner]]:
    """Time each backend on ``texts`` (batches of 8) and check its vectors against fp32's."""
    from .encoder import _mean_pool

    say = log or (lambda m: None)
    batches = [encoder.pad_batch(encoder.token_ids(list(texts[i:i + 8]))) for i in range(0, len(texts), 8)]
    probe = encoder.pad_batch(encoder.token_ids([texts[-1]]))
    results: dict[str, dict[str, Any]] = {}
    runners: dict[str, Runner] = {}  # fp32 and the fastest passing one so far (the others are freed at once)
    ref: np.ndarray | None = None
    ref_probe = None
    for name in ["fp32"] + [n for n in names if n != "fp32"]:
        try:
            t0 = time.perf_counter()
            run = build(name, encoder)
            setup_s = time.perf_counter() - t0
            run(*probe)  # warm-up (lazy kernels, allocator)
            probe_s = _time(lambda: run(*probe), min_s=0.0, max_reps=2)
            if ref_probe is not None and probe_s > PROBE_SLOWDOWN * ref_probe:
                results[name] = {"ok": False, "probe_ms": round(probe_s * 1000, 2),
                                 "reason": f"probe {probe_s * 1000:.1f} ms vs fp32 {ref_probe * 1000:.1f} ms"}
                say(f"encoder backend {name}: too slow here ({results[name]['reason']})")
                continue
            out = np.vstack([_mean_pool(run(*b), b[1]) for b in batches])
            seconds = _time(lambda: [run(*b) for b in batches])
        except Exception as e:  # noqa: BLE001  (any failure of an optional backend means: not this one)
            results[name] = {"ok": False, "reason": f"{type(e).__name__}: {e}"[:300]}
            say(f"encoder backend {name}: unavailable ({results[name]['reason']})")
            continue
        if ref is None:
            ref, ref_probe = out, probe_s
        cos = float(np.min(np.sum(out * ref, axis=1)))
        ok = cos >= PARITY_COSINE
        results[name] = {"ok": ok, "texts_per_s": round(len(texts) / seconds, 1), "cosine_min": round(cos, 5),
                         "probe_ms": round(probe_s * 1000, 2), "setup_s": round(setup_s, 2)}
        if not ok:
            results[name]["reason"] = f"cosine {cos:.4f} < {PARITY_COSINE}"
        say(f"encoder backend {name}: {results[name]['texts_per_s']} texts/s, cosine {cos:.4f}")
        if ok:
            runners[name] = run
            best = pick(results, list(results))
            for other in [k for k in runners if k not in ("fp32", best)]:
                del runners[other]
    return results, runners


def _contended(load: float | None = None) -> bool:
    """Were the cores busy with other work (1-minute load above 1.5 per core)? Timings taken then are
    not trusted for good: the choice is measured again on a later load with the cores free."""
    if load is None:
        if not hasattr(os, "getloadavg"):
            return False
        load = os.getloadavg()[0]
    return load > 1.5 * (os.cpu_count() or 1)


def resolve(encoder, requested: str = "auto", *, log: Callable[[str], None] | None = None,
            build: Callable[[str, Any], Runner] = build_runner,
            remeasure: bool = False) -> tuple[str, Runner, dict[str, Any] | None]:
    """``(backend, runner, measurement record or None)`` for ``encoder``: the requested backend, or with
    ``auto`` the cached choice for this machine, measuring once when there is none (or ``remeasure``)."""
    requested = requested_backend(requested)
    if requested != "auto":
        try:
            return requested, build(requested, encoder), None
        except Exception as e:  # noqa: BLE001
            warnings.warn(f"encoder backend '{requested}' is not available here ({type(e).__name__}: {e}); "
                          "using fp32", RuntimeWarning, stacklevel=2)
            return "fp32", build("fp32", encoder), None
    key, basis = choice_key(encoder)
    record = None if remeasure else read_choices().get(key)
    if record and record.get("contended") and not _contended():
        record = None  # measured while other processes held the cores: measure again now that they do not
    if record and record.get("choice") in BACKENDS:
        try:
            return record["choice"], build(record["choice"], encoder), record
        except Exception:  # noqa: BLE001  (e.g. an ONNX file deleted or a package removed: measure again)
            pass
    names = candidates(encoder)
    results, runners = measure(encoder, names, build=build, log=log)
    choice = pick(results, names)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    record = {**basis, "choice": choice, "results": results, "load": load, "contended": _contended(load),
              "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_choice(key, record)
    return choice, runners.get(choice) or build(choice, encoder), record


def cached_choice(fingerprint: str | None = None, *, threads: int | None = None) -> dict[str, Any] | None:
    """The latest cached measurement on this CPU (for one checkpoint and thread count when given),
    without loading anything; ``None`` when this machine has not measured yet."""
    info = cpu_info()
    rows = [r for r in read_choices().values() if isinstance(r, dict) and r.get("flags_sha") == info["flags_sha"]
            and r.get("cpu") == info["model"] and (fingerprint is None or r.get("encoder") == fingerprint)
            and (threads is None or r.get("threads") == threads)]
    return max(rows, key=lambda r: r.get("measured_at", ""), default=None)


def main(argv: list[str] | None = None) -> int:
    """``python -m nlp.families.encoders.backends [--measure] [--json]``: the backends ``auto`` chose on this machine
    (one record per encoder and thread count), or a new measurement of the converted e5-small."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m nlp.families.encoders.backends", description=main.__doc__)
    ap.add_argument("--measure", action="store_true", help="measure again (e.g. after a hardware or library change)")
    ap.add_argument("--model-path", default=None, help="encoder folder (default: the converted e5-small)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    import torch

    from .convert import ensure_converted
    from .encoder import TextEncoder

    info = cpu_info()
    records = [] if args.measure else sorted(
        (r for r in read_choices().values() if isinstance(r, dict) and r.get("flags_sha") == info["flags_sha"]),
        key=lambda r: r.get("measured_at", ""))
    if not records:
        os.environ.pop(ENV_VAR, None)
        path = Path(args.model_path) if args.model_path else ensure_converted()
        enc = TextEncoder(path, backend="fp32", num_threads=torch.get_num_threads())
        records = [resolve(enc, "auto", remeasure=True, log=lambda m: print(m, file=sys.stderr))[2]]
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=2))
        return 0
    for record in records:
        print(f"CPU {record['cpu']} ({record['arch']}; {', '.join(record['cpu_flags']) or 'no SIMD flags read'}), "
              f"{record['threads']} threads, encoder {record['encoder']}, measured {record['measured_at']}"
              + (" (cores were busy)" if record.get("contended") else ""))
        for name, r in record["results"].items():
            mark = "*" if name == record["choice"] else " "
            rate = f"{r['texts_per_s']:>8.1f} texts/s" if "texts_per_s" in r else f"{'':>16}"
            cos = f"cosine {r['cosine_min']:.4f}" if "cosine_min" in r else ""
            print(f" {mark} {name:<10}{rate}  {cos}  {r.get('reason', '')}".rstrip())
        print(f"auto -> {record['choice']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
