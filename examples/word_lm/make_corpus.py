"""Writes word_lm/data/{train,valid,test}.txt: short sentences drawn from a small grammar.

Run once (`python make_corpus.py`); the text files are committed, so the example never
runs this. A fixed seed makes the same files every time (Python's `random`, any version
from 3.2: `random.Random(seed).choice` is stable).
"""

import random
from pathlib import Path

SUBJECTS = ["the cat", "a dog", "the old man", "my sister", "the farmer", "a small bird",
            "the teacher", "our neighbour", "the child", "a tired horse"]
VERBS = ["sees", "likes", "follows", "finds", "watches", "carries", "feeds", "hears"]
OBJECTS = ["the ball", "a red apple", "the river", "an old boat", "the garden", "a letter",
           "the bread", "a warm coat", "the green hill", "a quiet song"]
PLACES = ["in the morning", "near the house", "after the rain", "by the fire",
          "at the market", "under the tree", "every day", "before dinner"]
JOINS = ["and then", "because", "while", "but"]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)]
    if rng.random() < 0.5:
        words.append(rng.choice(PLACES))
    if rng.random() < 0.3:
        words += [rng.choice(JOINS), rng.choice(SUBJECTS), rng.choice(VERBS),
                  rng.choice(OBJECTS)]
    return " ".join(words) + " ."


def main() -> None:
    rng = random.Random(2024)
    folder = Path(__file__).parent / "word_lm" / "data"
    for name, lines in (("train", 120), ("valid", 20), ("test", 20)):
        text = "".join(f" {sentence(rng)} \n" for _ in range(lines))  # as PTB: spaced lines
        (folder / f"{name}.txt").write_text(text)


if __name__ == "__main__":
    main()
