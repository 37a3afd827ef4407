"""worker.py -- a peer's worker process (harness/peer.h, docs/peers.md).

bench starts one per peer and keeps it for the run. It reads one request per
line on stdin and writes one reply per line on its own copy of stdout (the
real fd 1 then points at stderr, so a library that prints cannot break the
protocol; stderr goes to worker.log in the scratch folder). Words are
separated by spaces; values are percent-encoded.

    (start)                          -> hello proto=1 python=X.Y.Z
    probe dists=a,b                  -> ok dists=a=1.0,b=-       ('-': not installed)
    prepare module= variant= moddir= peer= family= device= dtype= threads=
            scale= flush= inputs=q,k,v in.q=B,N,H,D ... out=dims [final=dims]
            <the family's shape fields>
                                     -> ok info=<json> call_s=<s> [footprint=<bytes>]
    run                              -> ok call_s=<s>
    fetch                            -> ok  (out.npy and final.npy in the scratch folder)
    samples n= timing= flush= graph_ms= graph_max= warmup=
                                     -> ok ms=t1,t2,...          (ms per call)
    release                          -> ok
    quit

A failed request answers "skip msg=" (the peer does not compute this case),
"oom msg=" or "error msg="; bench kills a worker that dies, hangs past its
time limit or says anything else.

Timing follows bench's rules (harness/measure.h, gpu.h). On the CPU: a
monotonic clock around each call. On a GPU: before a cold sample an L2 flush
(a memset of `flush` bytes with a new byte value each time) and a
synchronisation; then a spinning kernel (torch.cuda._sleep) holds the stream
while the start event, the call and the stop event are queued behind it, so
the events time the call's kernels and not Python launching them. If the
spin ended before everything was queued (the start event had already
completed), the sample is thrown away and retried with a spin twice as
long. graph: the call captured `launches` times into a CUDA graph, one
replay per sample, the time divided by launches.
"""

import importlib
import importlib.metadata
import json
import math
import os
import platform
import sys
import time
import traceback

PROTO = 1
INFO_MAX = 511              # bench stores op_ctx.info, 512 bytes with the NUL
SPIN_START_CYCLES = 2_000_000   # ~1 ms at 2 GHz; doubled whenever it was too short


# ---- the line format -----------------------------------------------------------

def encode(value):
    out = []
    for b in str(value).encode("utf-8"):
        out.append(chr(b) if 0x21 <= b <= 0x7E and b != 0x25 else "%%%02X" % b)
    return "".join(out)


def decode(value):
    raw, i = bytearray(), 0
    while i < len(value):
        if value[i] == "%":
            raw.append(int(value[i + 1:i + 3], 16))
            i += 3
        else:
            raw.extend(value[i].encode("utf-8"))
            i += 1
    return raw.decode("utf-8")


def parse(line):
    words = line.split()
    fields = {}
    for w in words[1:]:
        key, _, value = w.partition("=")
        fields[key] = decode(value)
    return (words[0] if words else ""), fields


class Channel:
    def __init__(self):
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)           # prints from libraries go to the log
        sys.stdout = sys.stderr

    def send(self, verb, **fields):
        words = [verb] + ["%s=%s" % (k, encode(v)) for k, v in fields.items()]
        self.out.write(" ".join(words) + "\n")
        self.out.flush()


def die_with_parent():
    """Ends this worker when bench ends, however bench ends (Linux)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    except Exception:
        pass


# ---- timing ----------------------------------------------------------------------

class CpuTimer:
    def sample(self, call, timing):
        t0 = time.perf_counter_ns()
        call()
        return (time.perf_counter_ns() - t0) / 1e6


class CudaTimer:
    def __init__(self, torch, device):
        self.torch = torch
        self.device = device
        self.flush = None
        self.value = 0
        self.spin = SPIN_START_CYCLES
        self.start = torch.cuda.Event(enable_timing=True)
        self.stop = torch.cuda.Event(enable_timing=True)
        self.graph = None
        self.launches = 1
        self.best_ms = math.inf

    def set_flush(self, nbytes):
        if self.flush is None or self.flush.numel() != nbytes:
            self.flush = None
            if nbytes > 0:
                self.flush = self.torch.empty(nbytes, dtype=self.torch.uint8, device=self.device)

    def held(self, queue):
        """Queues spin, start, queue(), stop; the milliseconds between the
        events, or None when the spin ended before the stop was queued."""
        torch = self.torch
        torch.cuda._sleep(self.spin)
        self.start.record()
        queue()
        self.stop.record()
        early = self.start.query()
        self.stop.synchronize()
        return None if early else self.start.elapsed_time(self.stop)

    def sample(self, call, timing):
        torch = self.torch
        while True:
            if timing == "cold" and self.flush is not None:
                self.value = (self.value + 1) & 0xFF
                self.flush.fill_(self.value)
            torch.cuda.synchronize()
            if timing == "graph":
                ms = self.held(self.graph.replay)
                ms = None if ms is None else ms / self.launches
            else:
                ms = self.held(call)
            if ms is not None:
                return ms
            self.spin *= 2

    def capture(self, call, graph_ms, graph_max):
        """The graph mode's graph: call() `launches` times, launches sized
        from the fastest warm-up call as bench sizes its own."""
        torch = self.torch
        want = math.ceil(graph_ms / self.best_ms) if self.best_ms > 0 and math.isfinite(self.best_ms) else graph_max
        self.launches = max(1, min(graph_max, want))
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.stream(stream):
            call()              # a call on the side stream before capture (allocator warm-up)
        torch.cuda.current_stream().wait_stream(stream)
        with torch.cuda.graph(graph):
            for _ in range(self.launches):
                call()
        graph.replay()          # the first replay is not timed
        torch.cuda.synchronize()
        self.graph = graph


# ---- the worker --------------------------------------------------------------------

class Unsupported(Exception):
    pass


class Worker:
    def __init__(self, chan):
        self.chan = chan
        self.dir = os.environ.get("SEQBENCH_PEER_DIR", ".")
        self.prep = None
        self.timer = None
        self.torch = None
        self.baseline = 0

    def footprint(self):
        if self.torch is None or self.prep is None or self.prep.device == "cpu":
            return {}
        return {"footprint": int(self.torch.cuda.max_memory_allocated() - self.baseline)}

    def sync(self):
        if self.prep.device != "cpu":
            self.torch.cuda.synchronize()

    def timed_call(self):
        t0 = time.perf_counter()
        self.prep.call()
        self.sync()
        return time.perf_counter() - t0

    def probe(self, f):
        found = []
        for name in filter(None, f.get("dists", "").split(",")):
            try:
                found.append("%s=%s" % (name, importlib.metadata.version(name)))
            except Exception:
                found.append("%s=-" % name)
        self.chan.send("ok", dists=",".join(found))

    def prepare(self, f):
        import numpy as np
        import peerlib
        self.release()
        moddir = f.get("moddir")
        if moddir and moddir not in sys.path:
            sys.path.insert(0, moddir)
        module = importlib.import_module(f["module"])
        inputs = {}
        for name in filter(None, f["inputs"].split(",")):
            a = np.load(os.path.join(self.dir, name + ".npy"))
            if a.shape != peerlib.dims(f["in." + name]):
                raise ValueError("input %s has shape %s, not %s" % (name, a.shape, f["in." + name]))
            inputs[name] = a
        case = peerlib.Case(f, inputs)
        if case.device != "cpu":
            import torch
            self.torch = torch
            torch.cuda.set_device(case.device)
            self.timer = CudaTimer(torch, case.device)
            self.timer.set_flush(int(f.get("flush", "0")))
            torch.cuda.synchronize()
            self.baseline = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        else:
            self.timer = CpuTimer()
        self.prep = module.prepare(case)
        self.prep.call()        # compilation, autotuning, lazy loading: never timed
        self.sync()
        call_s = self.timed_call()
        info = {"peer": case.peer, "python": platform.python_version(),
                "versions": self.versions(module), "numerics": getattr(self.prep, "numerics", {}),
                "timer": "perf_counter_ns" if case.device == "cpu" else "cuda events behind a spin kernel"}
        info.update(getattr(self.prep, "info", {}))
        self.chan.send("ok", info=self.compact(info), call_s="%.6g" % call_s, **self.footprint())

    def versions(self, module):
        v = {}
        for name in getattr(module, "DISTS", ()):
            try:
                v[name] = importlib.metadata.version(name)
            except Exception:
                v[name] = None
        if self.torch is not None or "torch" in sys.modules:
            torch = sys.modules["torch"]
            v["cuda"] = torch.version.cuda
            if torch.backends.cudnn.is_available():
                v["cudnn"] = torch.backends.cudnn.version()
        return v

    @staticmethod
    def compact(info):
        """JSON that fits bench's 512 bytes: the adapter's own keys go first
        when it does not."""
        keys = list(info)
        while keys:
            text = json.dumps({k: info[k] for k in keys}, separators=(",", ":"), default=str)
            if len(text.encode()) <= INFO_MAX:
                return text
            keys.pop()
        return "{}"

    def run(self, f):
        self.chan.send("ok", call_s="%.6g" % self.timed_call(), **self.footprint())

    def fetch(self, f):
        import numpy as np
        self.sync()
        out, final = self.prep.output()
        np.save(os.path.join(self.dir, "out.npy"), np.asarray(out, dtype=np.float32))
        if final is not None:
            np.save(os.path.join(self.dir, "final.npy"), np.asarray(final, dtype=np.float32))
        self.chan.send("ok", **self.footprint())

    def samples(self, f):
        n, timing = int(f["n"]), f["timing"]
        t = self.timer
        if isinstance(t, CudaTimer):
            t.set_flush(int(f.get("flush", "0")))
            if timing == "graph" and f.get("warmup") == "1":
                timing = "warm"         # warm-up: single calls, sizing the graph
            elif timing == "graph" and t.graph is None:
                try:
                    t.capture(self.prep.call, float(f["graph_ms"]), int(f["graph_max"]))
                except Exception as e:
                    raise Unsupported("cannot be captured into a CUDA graph: %s" % first_line(e))
        ms = []
        for _ in range(n):
            ms.append(t.sample(self.prep.call, timing))
        if isinstance(t, CudaTimer) and f.get("warmup") == "1":
            t.best_ms = min([t.best_ms] + ms)
        self.chan.send("ok", ms=",".join("%.9g" % x for x in ms), **self.footprint())

    def release(self, f=None):
        had = self.prep is not None
        self.prep = None
        if self.timer is not None and isinstance(self.timer, CudaTimer):
            self.timer.graph = None
        if self.torch is not None:
            self.torch.cuda.empty_cache()
        if f is not None:
            self.chan.send("ok")
        return had

    def serve(self):
        handlers = {"probe": self.probe, "prepare": self.prepare, "run": self.run,
                    "fetch": self.fetch, "samples": self.samples, "release": self.release}
        for line in sys.stdin:
            verb, f = parse(line)
            if verb == "quit":
                return
            try:
                if verb not in handlers:
                    raise ValueError("unknown request '%s'" % verb)
                if verb in ("run", "fetch", "samples") and self.prep is None:
                    raise ValueError("%s before prepare" % verb)
                handlers[verb](f)
            except MemoryError as e:
                self.chan.send("oom", msg="out of host memory: %s" % first_line(e))
            except Exception as e:
                if type(e).__name__ == "Unsupported":   # the worker's own, or peerlib's
                    self.chan.send("skip", msg=first_line(e))
                    continue
                traceback.print_exc()
                sys.stderr.flush()
                kind = "oom" if type(e).__name__ == "OutOfMemoryError" else "error"
                self.chan.send(kind, msg="%s: %s" % (type(e).__name__, first_line(e)))


def first_line(e):
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


def main():
    chan = Channel()
    die_with_parent()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    chan.send("hello", proto=PROTO, python=platform.python_version())
    Worker(chan).serve()


if __name__ == "__main__":
    main()
