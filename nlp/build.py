#!/usr/bin/env python
"""Build the Loopbaancoach Dutch spaCy pipeline ``nl_loopbaan_sm`` from UD Dutch data.

Subcommands (run from anywhere; paths are relative to this file):

    python nlp/build.py convert    # nlp/ud-dutch/*.conllu -> nlp/build/corpus/*.spacy
    python nlp/build.py train      # nlp/config.cfg -> nlp/build/training/model-best
    python nlp/build.py package    # -> nlp/dist/nl_loopbaan_sm-0.1.0.tar.gz (+ pip install)
    python nlp/build.py evaluate   # installed nl_loopbaan_sm on nl_alpino-ud-test -> metrics.json
    python nlp/build.py all        # convert, train, package, evaluate

Data: UD_Dutch-Alpino and UD_Dutch-LassySmall (CC BY-SA 4.0), see nlp/ud-dutch/ATTRIBUTION.md.
nl_alpino-ud-test.conllu is the held-out evaluation split and is never trained on; the other
three files are pooled, cut into documents of DOC_SENTS sentences and split (seeded) into
train and a small dev set for spaCy's training loop.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

NLP_DIR = Path(__file__).resolve().parent
REPO_DIR = NLP_DIR.parent  # spaCy is run from here, so paths in configs stay relative
DATA_DIR = NLP_DIR / "ud-dutch"
BUILD_DIR = NLP_DIR / "build"
CORPUS_DIR = BUILD_DIR / "corpus"
TRAIN_DIR = BUILD_DIR / "training"
PACKAGES_DIR = BUILD_DIR / "packages"
DIST_DIR = NLP_DIR / "dist"
CONFIG = NLP_DIR / "config.cfg"
METRICS = NLP_DIR / "metrics.json"

TRAIN_FILES = [
    "nl_alpino-ud-dev.conllu",
    "nl_lassysmall-ud-dev.conllu",
    "nl_lassysmall-ud-test.conllu",
]
TEST_FILE = "nl_alpino-ud-test.conllu"

PIPELINE_NAME = "nl_loopbaan_sm"  # lang "nl" + name "loopbaan_sm"
VERSION = "0.1.0"
SEED = 42
DOC_SENTS = 10  # sentences per training document (as `spacy convert -n 10`)
DEV_FRACTION = 0.08
# The held-out test set is Alpino (news); most training text is LassySmall (Wikipedia).
# Alpino training documents are repeated this many times in train.spacy (dev is not touched).
ALPINO_OVERSAMPLE = 3

# Quick build: a few minutes of training so the team has a loadable pipeline early.
QUICK_OVERRIDES = {
    "training.max_steps": "600",
    "training.eval_frequency": "200",
    "training.patience": "0",
}

MIN_POS = 93.0
MIN_LEMMA = 93.0


# --------------------------------------------------------------------------- conversion
COMPOUND_LINKERS_POS = ("NOUN", "PROPN", "ADJ", "X", "NUM")


def clean_lemma(form: str, lemma: str, upos: str = "") -> str:
    """Turn a UD Dutch lemma with ``_`` compound separators into a plain Dutch lemma.

    * ``stage_plek`` -> ``stageplek`` (separators removed);
    * where the word itself has hyphens at those boundaries they are kept:
      ``kabinet-Kok`` / ``kabinet_Kok`` -> ``kabinet-Kok``;
    * nominal compounds keep the written non-head part, so linking ``s``/``en`` survive:
      ``ontwikkelingslanden`` / ``ontwikkeling_land`` -> ``ontwikkelingsland`` (not the
      non-word ``ontwikkelingland``), ``mattentaart`` / ``mat_taart`` -> ``mattentaart``.
      Verbs are only stripped (``af_lopen`` -> ``aflopen``, ``plaats_vinden`` -> ``plaatsvinden``).
    """
    if "_" not in lemma or set(lemma) == {"_"}:
        return lemma
    parts = [p for p in lemma.split("_") if p]
    plain = "".join(parts)
    hyphenated = "-".join(parts)
    low = form.lower()
    if hyphenated.lower() in low:
        return hyphenated
    if upos in COMPOUND_LINKERS_POS and len(parts) > 1:
        head = parts[-1]
        j = low.rfind(head[:4].lower())  # where the head starts in the written word
        if j > 0 and j >= len(parts[0]) - 1 and low.startswith(parts[0][:2].lower()):
            prefix = form[:j]
            if lemma[0].islower():
                prefix = prefix[0].lower() + prefix[1:]
            return prefix + head
    return plain


def read_conllu(path: Path, plain_strip: bool = False) -> list[list[dict]]:
    """Return the sentences of a CoNLL-U file as lists of token dicts (empty nodes skipped).

    plain_strip: only delete the ``_`` in lemmas (the scoring used for the reference figures
    in ud-dutch/README.md) instead of clean_lemma().
    """
    sentences: list[list[dict]] = []
    tokens: list[dict] = []
    with path.open(encoding="utf8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                if tokens:
                    sentences.append(tokens)
                tokens = []
                continue
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise ValueError(f"{path}: bad CoNLL-U line: {line!r}")
            tid = cols[0]
            if "-" in tid or "." in tid:  # multiword-token ranges (none in this data) / empty nodes
                continue
            misc = cols[9]
            tokens.append(
                {
                    "id": int(tid),
                    "form": cols[1],
                    "lemma": (
                        cols[2].replace("_", "")
                        if plain_strip and cols[2] != "_"
                        else clean_lemma(cols[1], cols[2], cols[3])
                    ),
                    "upos": cols[3],
                    "xpos": cols[4],
                    "feats": "" if cols[5] == "_" else cols[5],
                    "head": int(cols[6]),
                    "deprel": cols[7],
                    "space_after": "SpaceAfter=No" not in misc.split("|"),
                }
            )
    if tokens:
        sentences.append(tokens)
    return sentences


def sentences_to_doc(vocab, sentences: list[list[dict]]):
    from spacy.tokens import Doc

    words, spaces, pos, morphs, lemmas, heads, deps, starts = [], [], [], [], [], [], [], []
    offset = 0
    for sent in sentences:
        for i, tok in enumerate(sent):
            words.append(tok["form"])
            spaces.append(tok["space_after"])
            pos.append(tok["upos"])
            morphs.append(tok["feats"])
            lemmas.append(tok["lemma"])
            head = tok["head"]
            heads.append(offset + (head - 1 if head else i))
            deps.append("ROOT" if tok["deprel"] == "root" else tok["deprel"])
            starts.append(i == 0)
        # sentence-final token always gets a space so sentences don't glue together
        spaces[-1] = True
        offset += len(sent)
    spaces[-1] = False
    return Doc(
        vocab,
        words=words,
        spaces=spaces,
        pos=pos,
        morphs=morphs,
        lemmas=lemmas,
        heads=heads,
        deps=deps,
        sent_starts=starts,
    )


def load_docs(vocab, path: Path, n_sents: int = DOC_SENTS, plain_strip: bool = False):
    sents = read_conllu(path, plain_strip)
    return [sentences_to_doc(vocab, sents[i : i + n_sents]) for i in range(0, len(sents), n_sents)]


def cmd_convert(args) -> None:
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("nl")
    docs = []  # (is_alpino, doc)
    for name in TRAIN_FILES:
        file_docs = load_docs(nlp.vocab, DATA_DIR / name)
        print(f"  {name}: {len(file_docs)} docs, {sum(len(d) for d in file_docs)} tokens")
        docs.extend((name.startswith("nl_alpino"), doc) for doc in file_docs)
    rng = random.Random(SEED)
    rng.shuffle(docs)
    n_dev = max(1, int(len(docs) * DEV_FRACTION))
    dev = [doc for _, doc in docs[:n_dev]]
    train = [doc for _, doc in docs[n_dev:]]
    n_unique = len(train)
    # oversample the Alpino (news) part of the training split, never the dev split
    train += [doc for alp, doc in docs[n_dev:] if alp] * (ALPINO_OVERSAMPLE - 1)
    rng.shuffle(train)
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    DocBin(docs=train, store_user_data=False).to_disk(CORPUS_DIR / "train.spacy")
    DocBin(docs=dev, store_user_data=False).to_disk(CORPUS_DIR / "dev.spacy")
    test = load_docs(nlp.vocab, DATA_DIR / TEST_FILE)
    DocBin(docs=test, store_user_data=False).to_disk(CORPUS_DIR / "test.spacy")
    print(
        f"convert: train {len(train)} docs / {sum(len(d) for d in train)} tokens "
        f"({n_unique} unique docs, Alpino x{ALPINO_OVERSAMPLE}), "
        f"dev {len(dev)} docs / {sum(len(d) for d in dev)} tokens, "
        f"test (held out, {TEST_FILE}) {len(test)} docs / {sum(len(d) for d in test)} tokens"
    )


# --------------------------------------------------------------------------- training
def rel(path: Path) -> str:
    """``path`` relative to the repository root where possible (no machine paths in the model)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_DIR).as_posix()
    except ValueError:
        return str(path)


def strip_local_paths(value):
    """Replace absolute paths below the repository root in (nested) meta data by relative ones."""
    if isinstance(value, dict):
        return {k: strip_local_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_local_paths(v) for v in value]
    if isinstance(value, str):
        return value.replace(f"{REPO_DIR.as_posix()}/", "")
    return value


def run_spacy_train(config: Path, out: Path, overrides: dict) -> float:
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "spacy", "train", rel(config), "--output", rel(out)]
    cmd += ["--gpu-id", "-1"]
    for key, value in overrides.items():
        cmd += [f"--{key}", value]
    print("train:", " ".join(cmd), flush=True)
    start = time.time()
    subprocess.run(cmd, check=True, cwd=REPO_DIR)
    return time.time() - start


def cmd_train(args) -> None:
    if not (CORPUS_DIR / "train.spacy").exists():
        cmd_convert(args)
    out = Path(args.output) if args.output else TRAIN_DIR
    overrides = {
        "paths.train": rel(CORPUS_DIR / "train.spacy"),
        "paths.dev": rel(CORPUS_DIR / "dev.spacy"),
    }
    if args.quick:
        overrides.update(QUICK_OVERRIDES)
    elapsed = run_spacy_train(CONFIG, out, overrides)
    info = {"quick": bool(args.quick), "train_seconds": round(elapsed, 1), "overrides": overrides}
    (out / "train_info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"train: finished in {elapsed / 60:.1f} min -> {out / 'model-best'}")


# --------------------------------------------------------------------------- packaging
def meta_for(model_dir: Path) -> dict:
    meta = json.loads((model_dir / "meta.json").read_text())
    meta.update(
        {
            "lang": "nl",
            "name": "loopbaan_sm",
            "version": VERSION,
            "description": (
                "Dutch pipeline for the Loopbaancoach assistant: tok2vec, morphologizer "
                "(UPOS + UD features), parser, trainable (edit-tree) lemmatizer. Trained on "
                "UD Dutch Alpino (dev) and LassySmall (dev+test); lemmas without '_' "
                "compound separators. No word vectors."
            ),
            "author": "Loopbaancoach",
            "email": "",
            "url": "",
            "license": "CC BY-SA 4.0",
            "sources": [
                {
                    "name": "UD Dutch Alpino",
                    "url": "https://github.com/UniversalDependencies/UD_Dutch-Alpino",
                    "license": "CC BY-SA 4.0",
                    "author": "Gosse Bouma, Gertjan van Noord, Daniel Zeman, Zdeněk Žabokrtský",
                },
                {
                    "name": "UD Dutch LassySmall",
                    "url": "https://github.com/UniversalDependencies/UD_Dutch-LassySmall",
                    "license": "CC BY-SA 4.0",
                    "author": "Gosse Bouma, Gertjan van Noord",
                },
            ],
        }
    )
    train_info = model_dir.parent / "train_info.json"
    if train_info.exists():
        meta.setdefault("loopbaancoach", {})["training"] = json.loads(train_info.read_text())
    return meta


def cmd_package(args) -> None:
    import spacy

    sys.path.insert(0, str(NLP_DIR))
    import lemma_case  # noqa: F401  registers the "loopbaan_lemma_case" component

    model_dir = Path(args.model) if args.model else TRAIN_DIR / "model-best"
    if not model_dir.exists():
        sys.exit(f"package: {model_dir} not found; run `python nlp/build.py train` first")
    # trained pipeline + the rule component that lowercases capitalised common-word lemmas
    nlp = spacy.load(model_dir)
    # the training corpus paths end up in the shipped config.cfg: keep them repo-relative
    for key in ("train", "dev"):
        if isinstance(nlp.config["paths"].get(key), str):
            nlp.config["paths"][key] = strip_local_paths(nlp.config["paths"][key])
    if "loopbaan_lemma_case" not in nlp.pipe_names:
        nlp.add_pipe("loopbaan_lemma_case", after="trainable_lemmatizer")
    final_dir = BUILD_DIR / "final-model"
    if final_dir.exists():
        shutil.rmtree(final_dir)
    nlp.to_disk(final_dir)
    meta = strip_local_paths(meta_for(model_dir))
    meta["pipeline"] = nlp.pipe_names
    meta["components"] = nlp.component_names
    PACKAGES_DIR.mkdir(parents=True, exist_ok=True)
    meta_path = PACKAGES_DIR / "meta.json"
    meta_text = json.dumps(meta, indent=2, ensure_ascii=False) + "\n"
    config_text = (final_dir / "config.cfg").read_text(encoding="utf8")
    for label, text in (("meta.json", meta_text), ("config.cfg", config_text)):
        if str(REPO_DIR) in text:
            sys.exit(f"package: {label} still contains the local path {REPO_DIR}")
    meta_path.write_text(meta_text)
    # the attribution travels inside the package (CC BY-SA requirement)
    for name in ("ATTRIBUTION.md", "LICENSE-Alpino.txt", "LICENSE-LassySmall.txt"):
        shutil.copy(DATA_DIR / name, final_dir / name)
    cmd = [
        sys.executable,
        "-m",
        "spacy",
        "package",
        str(final_dir),
        str(PACKAGES_DIR),
        "--meta-path",
        str(meta_path),
        "--code",
        str(NLP_DIR / "lemma_case.py"),
        "--build",
        "sdist",
        "--force",
    ]
    print("package:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    pkg = f"{PIPELINE_NAME}-{VERSION}"
    sdist = PACKAGES_DIR / pkg / "dist" / f"{pkg}.tar.gz"
    DIST_DIR.mkdir(parents=True, exist_ok=True)
    target = DIST_DIR / sdist.name
    shutil.copy(sdist, target)
    print(f"package: {target} ({target.stat().st_size / 1e6:.1f} MB)")
    if not args.no_install:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--force-reinstall",
            "--no-deps",
            "--no-build-isolation",
            str(target),
        ]
        print("package:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


# --------------------------------------------------------------------------- evaluation
def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def cmd_evaluate(args) -> int:
    import spacy
    from spacy.scorer import Scorer
    from spacy.training import Example

    name = args.model or PIPELINE_NAME
    if Path(name).exists():  # a pipeline directory rather than the installed package
        sys.path.insert(0, str(NLP_DIR))
        import lemma_case  # noqa: F401
    t0 = time.perf_counter()
    nlp = spacy.load(name)
    load_s = time.perf_counter() - t0
    model_path = Path(nlp.path) if getattr(nlp, "path", None) else None
    if model_path is None:  # installed package: the data dir sits inside the module
        import importlib

        model_path = Path(importlib.import_module(name).__file__).parent
    size_mb = dir_size_mb(model_path)

    gold_docs = load_docs(nlp.vocab, DATA_DIR / TEST_FILE)
    gold_plain = load_docs(nlp.vocab, DATA_DIR / TEST_FILE, plain_strip=True)
    texts = [d.text for d in gold_docs]
    n_words = sum(len(d) for d in gold_docs)
    t0 = time.perf_counter()
    predicted = list(nlp.pipe(texts, batch_size=64))
    wps = n_words / (time.perf_counter() - t0)
    # scored as nlp.evaluate() does: own tokenizer on raw text, aligned to the gold tokens
    scores = Scorer(nlp).score([Example(p, g) for p, g in zip(predicted, gold_docs, strict=True)])
    plain = Scorer.score_token_attr(
        [Example(p, g) for p, g in zip(predicted, gold_plain, strict=True)], "lemma"
    )["lemma_acc"]

    metrics = {
        "pipeline": f"{nlp.meta.get('lang')}_{nlp.meta.get('name')}",
        "version": nlp.meta.get("version"),
        "spacy_version": spacy.__version__,
        "eval_data": f"{TEST_FILE} ({len(gold_docs)} docs, {n_words} tokens, held out)",
        "pos_acc": round(100 * scores["pos_acc"], 2),
        "morph_acc": round(100 * scores["morph_acc"], 2),
        "lemma_acc": round(100 * scores["lemma_acc"], 2),
        "lemma_acc_plain_strip": round(100 * plain, 2),
        "dep_uas": round(100 * scores["dep_uas"], 2),
        "dep_las": round(100 * scores["dep_las"], 2),
        "sents_f": round(100 * scores["sents_f"], 2),
        "package_size_mb": round(size_mb, 1),
        "load_time_s": round(load_s, 2),
        "speed_wps": int(wps),
    }
    training = nlp.meta.get("loopbaancoach", {}).get("training")
    if training:
        metrics["train_seconds"] = training.get("train_seconds")
        metrics["quick_build"] = training.get("quick")
    rows = [
        ("POS accuracy", f"{metrics['pos_acc']:.2f} %"),
        ("Morph accuracy", f"{metrics['morph_acc']:.2f} %"),
        ("Lemma accuracy", f"{metrics['lemma_acc']:.2f} %"),
        ("Lemma acc. (only `_` deleted)", f"{metrics['lemma_acc_plain_strip']:.2f} %"),
        ("UAS", f"{metrics['dep_uas']:.2f} %"),
        ("LAS", f"{metrics['dep_las']:.2f} %"),
        ("Package size", f"{metrics['package_size_mb']:.1f} MB"),
        ("Load time", f"{metrics['load_time_s']:.2f} s"),
        ("Speed", f"{metrics['speed_wps']} words/s"),
    ]
    print(f"{metrics['pipeline']} {metrics['version']} on {metrics['eval_data']}")
    width = max(len(k) for k, _ in rows)
    print(f"| {'metric'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for key, value in rows:
        print(f"| {key.ljust(width)} | {value} |")
    if not args.no_write:
        METRICS.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
        print(f"evaluate: wrote {METRICS}")
    ok = metrics["pos_acc"] >= MIN_POS and metrics["lemma_acc"] >= MIN_LEMMA
    if not ok:
        print(f"evaluate: FAIL (need POS >= {MIN_POS} and lemma >= {MIN_LEMMA})", file=sys.stderr)
    return 0 if ok else 1


def cmd_all(args) -> int:
    cmd_convert(args)
    cmd_train(args)
    cmd_package(args)
    args.model = None
    return cmd_evaluate(args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("convert", help="CoNLL-U -> spaCy DocBin (nlp/build/corpus)")
    p = sub.add_parser("train", help="train with nlp/config.cfg")
    p.add_argument("--quick", action="store_true", help="short training run (a few minutes)")
    p.add_argument("--output", help="training output dir (default nlp/build/training)")
    p = sub.add_parser("package", help="spacy package -> nlp/dist/*.tar.gz, then pip install it")
    p.add_argument("--model", help="trained pipeline dir (default nlp/build/training/model-best)")
    p.add_argument("--no-install", action="store_true", help="don't pip install the sdist")
    p = sub.add_parser("evaluate", help="score the installed pipeline on nl_alpino-ud-test")
    p.add_argument("--model", help="pipeline name or path (default: installed nl_loopbaan_sm)")
    p.add_argument("--no-write", action="store_true", help="don't write nlp/metrics.json")
    p = sub.add_parser("all", help="convert + train + package + evaluate")
    p.add_argument("--quick", action="store_true", help="short training run (a few minutes)")
    args = parser.parse_args(argv)
    if args.command == "all":
        args.output, args.model, args.no_install, args.no_write = None, None, False, False
    handlers = {
        "convert": cmd_convert,
        "train": cmd_train,
        "package": cmd_package,
        "evaluate": cmd_evaluate,
        "all": cmd_all,
    }
    return handlers[args.command](args) or 0


if __name__ == "__main__":
    sys.exit(main())
