"""Threads churn through blocks of 1 B to 1 MiB (log-uniform: about a quarter above
64 KiB) in 512 shared slots, each replacing a random slot's block (the old one is freed
by whichever thread drops it). Prints how many allocations raised MemoryError: with a
pool far larger than what is live, none may.

    python churn.py STEPS_PER_THREAD
"""
import random
import sys
import threading

slots: list = [None] * 512
lock = threading.Lock()
errors = 0


def work(seed: int, steps: int) -> None:
    global errors
    rng = random.Random(seed)
    for _ in range(steps):
        lg = rng.randrange(21)
        size = min((1 << lg) + rng.randrange(1 << lg), 1 << 20)
        try:
            block = bytearray(size)
        except MemoryError:
            with lock:
                errors += 1
            block = None
        slots[rng.randrange(len(slots))] = block


threads = [threading.Thread(target=work, args=(s, int(sys.argv[1]))) for s in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("MemoryErrors:", errors)
