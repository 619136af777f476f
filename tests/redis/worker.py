"""Worker processes of the Redis Brain tests ("hosts" and their workers).

    worker.py recall URL NAME         prints "ready", recalls NAME, prints
                                      the array's sum
    worker.py learn_many URL          prints "ready", then stores generation
                                      1, 2, ... of names a, b, c (large
                                      arrays, all of one generation) forever
    worker.py cas URL NAME ROUNDS GO  waits for the file GO, then ROUNDS
                                      times: reads the version V and stores
                                      with if_version=V; prints the V of each
                                      win, one per line
    worker.py frame URL NAME GO       waits for GO, recalls the frame NAME,
                                      prints its row count and checksum
"""
import os
import sys
import time

import numpy as np

from brain_plasma import Brain, BrainVersionConflictError


def wait_for(path):
    while not os.path.exists(path):
        time.sleep(0.005)


def main(argv):
    mode, url = argv[1], argv[2]
    b = Brain(url)
    if mode == "recall":
        print("ready", flush=True)
        print(int(b.recall(argv[3]).sum()), flush=True)
    elif mode == "learn_many":
        print("ready", flush=True)
        gen = 1
        while True:
            b.learn_many({n: np.full(200_000, gen, dtype=np.int64) for n in "abc"})
            gen += 1
    elif mode == "cas":
        name, rounds = argv[3], int(argv[4])
        wait_for(argv[5])
        wins = []
        for _ in range(rounds):
            v = b.version(name)
            try:
                b.learn(os.getpid(), name, if_version=v)
                wins.append(v)
            except BrainVersionConflictError:
                pass
        print("\n".join(map(str, wins)), flush=True)
    elif mode == "frame":
        wait_for(argv[4])
        df = b.recall(argv[3])
        print(len(df), int(df["x"].sum()), flush=True)
    else:
        raise SystemExit("unknown mode %r" % mode)


if __name__ == "__main__":
    main(sys.argv)
