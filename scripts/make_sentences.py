"""Writes tests/data/sentences.txt: varied English sentences from templates and word lists, made
deterministically (seeded), for calibrating and evaluating INT8 text models (tests/python/
test_quantize_accuracy.py). Lines 1-300 calibrate, the rest evaluate.

    python scripts/make_sentences.py            # rewrites the file (the same bytes every time)
"""
import pathlib
import random

SUBJECTS = ["the committee", "a young doctor", "my neighbour", "the old fisherman", "our teacher", "the company",
            "a small bird", "the government", "two engineers", "the children", "a tired traveller", "the orchestra",
            "the city council", "her brother", "the farmer", "a famous painter", "the research team", "the captain",
            "most investors", "the local bakery", "a quiet student", "the football club", "the hospital", "an old friend"]
VERBS = ["announced", "discovered", "repaired", "painted", "questioned", "celebrated", "rejected", "described",
         "built", "studied", "sold", "visited", "cleaned", "designed", "ignored", "praised", "moved", "borrowed",
         "finished", "explained", "protected", "delivered", "measured", "photographed"]
OBJECTS = ["a new bridge", "the broken window", "an ancient map", "the annual report", "a bright red kite",
           "the vegetable garden", "several complaints", "the mountain road", "a strange noise", "the final exam",
           "a plan for the harbour", "the results of the survey", "a cup of strong coffee", "the village library",
           "an unusual contract", "the evening news", "a box of old letters", "the winter festival", "a faster train",
           "the price of bread", "a lost dog", "the solar panels", "a short film", "the wedding cake"]
PLACES = ["in the morning", "near the river", "after the storm", "before the meeting", "at the station",
          "during the holiday", "in a hurry", "without any help", "for the second time", "under the bright lights",
          "across the valley", "on a cold Tuesday", "behind the school", "with great care", "in front of everyone",
          "late last night"]
OPINIONS = ["which surprised nobody", "although the weather was terrible", "because the deadline was close",
            "and everyone was pleased", "but the manager was not convinced", "so the work took longer than expected",
            "while the rain kept falling", "even though it cost a fortune", "as the newspapers had predicted",
            "and then went home"]
QUESTIONS = ["Why did {s} leave {p}?", "Has {s} ever {v} {o}?", "Who {v} {o} {p}?", "When will {s} see {o} again?",
             "Is it true that {s} {v} {o}?", "How often does {s} talk about {o}?"]
SHORT = ["Stocks fell.", "It rained all day.", "The train was late.", "Nobody answered.", "Prices rose again.",
         "She smiled.", "The shop is closed.", "We won!", "Dinner is ready.", "The lights went out."]


def sentence(r: random.Random) -> str:
    k = r.random()
    s, v, o, p = r.choice(SUBJECTS), r.choice(VERBS), r.choice(OBJECTS), r.choice(PLACES)
    if k < 0.08:
        return r.choice(SHORT)
    if k < 0.25:
        return r.choice(QUESTIONS).format(s=s, v=v, o=o, p=p)
    if k < 0.55:
        return f"{s.capitalize()} {v} {o} {p}."
    if k < 0.8:
        return f"{s.capitalize()} {v} {o} {p}, {r.choice(OPINIONS)}."
    s2, v2, o2 = r.choice(SUBJECTS), r.choice(VERBS), r.choice(OBJECTS)
    return f"{s.capitalize()} {v} {o}, and {s2} {v2} {o2} {r.choice(PLACES)}."


def main():
    r = random.Random(20261201)
    seen, lines = set(), []
    while len(lines) < 500:
        t = sentence(r)
        if t not in seen:
            seen.add(t)
            lines.append(t)
    out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "sentences.txt"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} sentences to {out}")


if __name__ == "__main__":
    main()
