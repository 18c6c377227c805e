#!/usr/bin/env python3
"""Writes a held-out quad-canvas prompt file: N prompts per category (single, two, column, row, count, empty),
drawn with a fixed seed in the grammar of docs/quad-canvas.md with varied phrasings (numerals and words, articles
a/an/the or none, `the` before positions or not, top/bottom or upper/lower, trailing `corner`, in/at, either order
of `two`, plurals `sevens`/`sixes`/`zeroes`/`7s`/`7's`, lower/Capitalised/UPPER case, an occasional final `.`).
Prompts are distinct strings (the one-spec empty category differs only in
wording, case and period); the order is category by category.

    Scripts/make-quad-prompts.py --seed 2026 --per-category 20 > Examples/prompts-quad-heldout.txt
"""
import argparse
import random

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
PLURALS = ["zeros", "ones", "twos", "threes", "fours", "fives", "sixes", "sevens", "eights", "nines"]
COUNTS = ["", "one", "two", "three", "four"]
SLOTS = [(0, 0), (0, 1), (1, 0), (1, 1)]  # (row, column) of slots 0-3 in reading order


def digit(rng, d, article=True):
    """`[art] D`: numeral or word, with a/an, the or no article."""
    w = str(d) if rng.random() < 0.5 else WORDS[d]
    if not article:
        return w
    a = rng.choice(["", "a", "the"])
    if a == "a" and d == 8:
        a = "an"
    return (a + " " + w) if a else w


def position(rng, slot):
    """`[the] (top|upper|bottom|lower) (left|right) [corner]`."""
    row, col = SLOTS[slot]
    v = rng.choice(["top", "upper"]) if row == 0 else rng.choice(["bottom", "lower"])
    text = v + " " + ["left", "right"][col]
    if rng.random() < 0.4:
        text += " corner"
    return ("the " + text) if rng.random() < 0.6 else text


def placement(rng, slot, d):
    return digit(rng, d) + " " + rng.choice(["in", "at"]) + " " + position(rng, slot)


def single(rng):
    return placement(rng, rng.randrange(4), rng.randrange(10))


def two(rng):
    a, b = rng.sample(range(4), 2)
    return placement(rng, a, rng.randrange(10)) + " and " + placement(rng, b, rng.randrange(10))


def column(rng):
    the = "the " if rng.random() < 0.6 else ""
    side = rng.choice(["left", "right"])
    return digit(rng, rng.randrange(10)) + " above " + digit(rng, rng.randrange(10)) + " on " + the + side


def row(rng):
    the = "the " if rng.random() < 0.6 else ""
    v = rng.choice(["top", "bottom", "upper", "lower"])
    return digit(rng, rng.randrange(10)) + " next to " + digit(rng, rng.randrange(10)) + " on " + the + v + " row"


def count(rng):
    n, d = rng.randrange(1, 5), rng.randrange(10)
    if n == 1:
        return "one " + digit(rng, d, article=False)
    form = rng.random()
    if form < 0.5:
        noun = "zeroes" if d == 0 and rng.random() < 0.5 else PLURALS[d]
    elif form < 0.85:
        noun = f"{d}s"
    else:
        noun = f"{d}'s"
    return COUNTS[n] + " " + noun


def empty(rng):
    return rng.choice(["empty canvas", "an empty canvas", "the empty canvas", "nothing"])


def styled(rng, text):
    """Letter case and an occasional final period (the parser ignores both)."""
    r = rng.random()
    if r < 0.2:
        text = text[0].upper() + text[1:]
    elif r < 0.3:
        text = text.upper()
    if rng.random() < 0.1:
        text += "."
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--per-category", type=int, default=20)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    seen = set()
    for make in [single, two, column, row, count, empty]:
        got = 0
        for _ in range(10000):
            if got == a.per_category:
                break
            p = styled(rng, make(rng))
            if p in seen:
                continue
            seen.add(p)
            print(p)
            got += 1
        if got < a.per_category:
            raise SystemExit(f"{make.__name__}: only {got} distinct prompts")


if __name__ == "__main__":
    main()
