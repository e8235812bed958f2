"""Quickstart: an agent-style workflow that studies Maze's own documentation.

    read (io) ──> analyse (cpu) ──┐
    read (io) ──> analyse (cpu) ──┼──> merge (cpu) ──> write report (io)
    read (io) ──> analyse (cpu) ──┘

Every document (the README and docs/ of a source checkout, and the docstrings of the
installed ``maze_core`` modules) is read by an io task and analysed by a cpu task: split
into sections, keywords by TF-IDF against the whole corpus, and an extractive summary (the
sentence that carries the most keyword weight). A merge task ranks the corpus-wide
keywords and a final io task writes a Markdown report. Runs offline, in about a second.

    python examples/quickstart.py            # or: maze demo
"""

from __future__ import annotations

import ast
import math
import re
import tempfile
import threading
from collections import Counter
from pathlib import Path

from maze_core import Workflow, tool

AST_LOCK = threading.Lock()
WORD = re.compile(r"[A-Za-z][A-Za-z_\-]{2,}")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*(])")
STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "all",
        "any",
        "can",
        "her",
        "was",
        "one",
        "our",
        "out",
        "has",
        "have",
        "had",
        "its",
        "his",
        "how",
        "man",
        "new",
        "now",
        "old",
        "see",
        "two",
        "way",
        "who",
        "did",
        "get",
        "may",
        "use",
        "uses",
        "used",
        "with",
        "this",
        "that",
        "from",
        "they",
        "will",
        "would",
        "there",
        "their",
        "what",
        "when",
        "which",
        "while",
        "into",
        "than",
        "then",
        "them",
        "these",
        "those",
        "been",
        "being",
        "also",
        "each",
        "only",
        "more",
        "most",
        "other",
        "some",
        "such",
        "very",
        "over",
        "just",
        "like",
        "through",
        "where",
        "here",
        "does",
        "done",
        "should",
        "could",
        "every",
        "about",
        "after",
        "before",
        "under",
        "again",
        "same",
        "both",
        "once",
        "own",
        "your",
        "it's",
        "isn't",
        "none",
        "true",
        "false",
        "self",
        "return",
        "returns",
        "none",
        "default",
        "given",
    ]
)


@tool(kind="io")
def read_document(path: str) -> dict[str, str]:
    """Read one document (waiting on the disk is io work)."""
    return {"source": path, "text": Path(path).read_text(encoding="utf-8")}


@tool
def analyse(document: dict[str, str], corpus_size: int) -> dict[str, object]:
    """Split a document into sections, find its keywords and its most telling sentence.
    A Python module is studied through its docstrings."""
    if document["source"].endswith(".py"):
        document = {**document, "text": _docstrings(document["text"])}
    sections = _sections(document["text"])
    words = [w.lower() for w in WORD.findall(document["text"])]
    counts = Counter(w for w in words if w not in STOPWORDS)
    sentences = [
        s for paragraph in _paragraphs(document["text"]) for s in SENTENCE.split(paragraph)
    ]
    best = max(sentences, key=lambda s: _weight(s, counts), default="")
    return {
        "source": document["source"],
        "sections": len(sections),
        "words": len(words),
        "counts": dict(counts),
        "summary": best[:300],
        "corpus_size": corpus_size,
    }


@tool
def merge(analyses: list[dict[str, object]], top: int = 8) -> str:
    """Rank keywords by TF-IDF over the corpus and assemble the Markdown report."""
    document_frequency: Counter[str] = Counter()
    for analysis in analyses:
        document_frequency.update(analysis["counts"].keys())  # type: ignore[union-attr]
    lines = ["# What Maze's documentation talks about", ""]
    total_words = sum(int(a["words"]) for a in analyses)  # type: ignore[call-overload]
    lines.append(f"{len(analyses)} documents, {total_words:,} words.\n")
    for analysis in sorted(analyses, key=lambda a: str(a["source"])):
        keywords = _tfidf(analysis["counts"], document_frequency, len(analyses), top)  # type: ignore[arg-type]
        lines.append(f"## `{'/'.join(Path(str(analysis['source'])).parts[-2:])}`")
        lines.append(
            f"{analysis['sections']} sections, {analysis['words']} words. "
            f"Keywords: {', '.join(keywords)}."
        )
        lines.append(f"> {analysis['summary']}\n")
    return "\n".join(lines)


@tool(kind="io")
def write_report(report: str, path: str) -> dict[str, object]:
    """Write the report and say where it went."""
    Path(path).write_text(report, encoding="utf-8")
    return {"path": path, "bytes": len(report.encode())}


def documents() -> list[str]:
    """The corpus: docs of a source checkout (when there is one) and maze_core's modules."""
    import maze_core

    package = Path(maze_core.__file__).parent
    checkout = package.parent
    paths = [checkout / "README.md", *sorted((checkout / "docs").glob("*.md"))]
    paths += sorted(p for p in package.rglob("*.py") if "_examples" not in p.parts)
    return [str(p) for p in paths if p.is_file()]


def build_workflow(paths: list[str] | None = None, out: str | None = None) -> Workflow:
    """The quickstart workflow over ``paths`` (default: :func:`documents`)."""
    paths = documents() if paths is None else paths
    out = out or str(Path(tempfile.gettempdir()) / "maze-quickstart-report.md")
    wf = Workflow("quickstart")
    analyses = [wf.add(analyse, wf.add(read_document, path), len(paths)) for path in paths]
    report = wf.add(merge, analyses)
    wf.add(write_report, report, out)
    return wf


def _docstrings(source: str) -> str:
    with AST_LOCK:  # ast.parse is not thread-safe on CPython 3.11 (python/cpython#106905)
        tree = ast.parse(source)
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef))]
    docs = (ast.get_docstring(n) for n in nodes)
    return "\n\n".join(
        f"# {getattr(n, 'name', 'module')}\n{d}" for n, d in zip(nodes, docs, strict=True) if d
    )


def _sections(text: str) -> list[str]:
    parts = re.split(r"(?m)^#{1,6} ", text)
    return [p for p in parts if p.strip()]


def _paragraphs(text: str) -> list[str]:
    """Prose paragraphs, one line each (headings, code and doctest lines left out)."""
    text = re.sub(r"(?ms)^```.*?^```", "", text)  # fenced code is not prose
    blocks = re.split(r"\n\s*\n", text)
    prose = [
        [line for line in b.splitlines() if not line.lstrip().startswith(("#", ">>>", "    "))]
        for b in blocks
    ]
    return [" ".join(" ".join(lines).split()) for lines in prose if lines]


def _weight(sentence: str, counts: Counter[str]) -> float:
    words = [w.lower() for w in WORD.findall(sentence)]
    return sum(counts.get(w, 0) for w in words) / math.sqrt(len(words) + 1)


def _tfidf(counts: dict[str, int], df: Counter[str], n_docs: int, top: int) -> list[str]:
    scores = {w: c * math.log((1 + n_docs) / (1 + df[w])) for w, c in counts.items()}
    return [w for w, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top]]


if __name__ == "__main__":
    workflow = build_workflow()
    result = workflow.run()
    written = result["write_report"]
    print(result)
    print(f"report: {written['path']} ({written['bytes']:,} bytes)")
