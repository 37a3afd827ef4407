"""timer_check.py -- the GPU timer of ops/peers/worker.py, driven by a fake
torch that records what the worker queues (tests/peers.sh runs it): the
timer a GPU peer is measured by cannot run here, but its protocol can --
for a cold sample a flush with a new byte value, a synchronisation, then
the spin, the start event, the call, the stop event, in that order; a
sample whose spin ended before everything was queued is dropped and retried
with a spin twice as long; warm has no flush; graph replays a captured graph
and divides by its launches, sized from the fastest warm-up call.
Prints one "ok ..." or "FAIL ..." line per check."""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ops", "peers"))
import worker  # noqa: E402

log = []


class Event:
    def __init__(self, name):
        self.name = name
        self.early = False

    def record(self):
        log.append("record " + self.name)

    def query(self):
        return self.early

    def synchronize(self):
        log.append("sync " + self.name)

    def elapsed_time(self, other):
        return 2.5


class Flush:
    def __init__(self, n):
        self.n = n

    def numel(self):
        return self.n

    def fill_(self, v):
        log.append("fill %d" % v)


class Graph:
    def replay(self):
        log.append("replay")


class FakeCuda:
    def __init__(self):
        self.early_left = 0
        self.events = []

    def Event(self, enable_timing):
        e = Event("start" if not self.events else "stop")
        self.events.append(e)
        return e

    def synchronize(self):
        log.append("synchronize")

    def _sleep(self, cycles):
        log.append("spin %d" % cycles)
        self.events[0].early = self.early_left > 0
        self.early_left -= 1

    def CUDAGraph(self):
        return Graph()


class FakeTorch:
    uint8 = "uint8"

    def __init__(self):
        self.cuda = FakeCuda()

    def empty(self, n, dtype, device):
        return Flush(n)


def check(what, cond):
    print(("ok " if cond else "FAIL ") + what)


torch = FakeTorch()
t = worker.CudaTimer(torch, "cuda:0")
t.set_flush(1 << 28)
call = lambda: log.append("call")   # noqa: E731

del log[:]
ms = t.sample(call, "cold")
check("cold: flush, sync, spin, start, call, stop, wait (%s)" % log,
      log == ["fill 1", "synchronize", "spin %d" % worker.SPIN_START_CYCLES, "record start", "call",
              "record stop", "sync stop"] and ms == 2.5)
del log[:]
t.sample(call, "cold")
check("the next flush writes another byte (%s)" % log[0], log[0] == "fill 2")

del log[:]
torch.cuda.early_left = 2          # the spin ends too soon twice
spin0 = t.spin
ms = t.sample(call, "cold")
spins = [w for w in log if w.startswith("spin")]
check("a spin too short is retried, doubled each time (%s)" % spins,
      spins == ["spin %d" % spin0, "spin %d" % (2 * spin0), "spin %d" % (4 * spin0)] and ms == 2.5)
check("each retry flushes again (%d flushes)" % sum(w.startswith("fill") for w in log),
      sum(w.startswith("fill") for w in log) == 3)
check("the longer spin is kept", t.spin == 4 * spin0)

del log[:]
t.sample(call, "warm")
check("warm: no flush (%s)" % log, not any(w.startswith("fill") for w in log) and "call" in log)

t.best_ms = 0.01
t.graph = Graph()
t.launches = 100
del log[:]
ms = t.sample(call, "graph")
check("graph: one replay, its time over the launches (%g ms)" % ms,
      log.count("replay") == 1 and "call" not in log and math.isclose(ms, 2.5 / 100))

t2 = worker.CudaTimer(FakeTorch(), "cuda:0")
t2.set_flush(0)
check("no flush buffer for a zero size", t2.flush is None)
del log[:]
t2.sample(call, "cold")
check("cold without a buffer: no fill", not any(w.startswith("fill") for w in log))

for text in ("a b%c=d\n", "", "ünï"):
    check("encode/decode round trip %r" % text, worker.decode(worker.encode(text)) == text)
verb, f = worker.parse("prepare module=torch_sdpa msg=a%20b")
check("parse", verb == "prepare" and f == {"module": "torch_sdpa", "msg": "a b"})
