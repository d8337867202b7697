"""Public-domain books from Debian's R packages, read without R.

``r-cran-janeaustenr`` (Austen's six novels) and ``r-cran-tokenizers`` (Moby Dick)
keep their texts in R's lazy-load database (``data/Rdata.rdx`` indexes zlib-compressed
serialised objects in ``data/Rdata.rdb``); ``r-cran-tidytext`` has four novels in
``extdata/books.rda``. PyPI's ``rdata`` parses both.
"""

import gzip
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

from espnet_reuse import extras
from espnet_reuse.corpus import packages

R_LIBRARY = Path("usr/lib/R/site-library")


@dataclass(frozen=True)
class Book:
    """One book: its lines as printed (title page and Gutenberg header included)."""

    title: str
    package: str
    lines: List[str]


def _rdata():
    extras.require("corpus", "rdata")
    import rdata

    return rdata


def _convert(raw: bytes):
    rdata = _rdata()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata names R classes it maps to data frames
        return rdata.conversion.convert(rdata.parser.parse_data(raw))


def lazy_load_database(folder: Path) -> Dict[str, object]:
    """Every object of an R package's ``data/Rdata.rdb`` by name."""
    index = _convert(gzip.decompress((folder / "Rdata.rdx").read_bytes()))
    database = (folder / "Rdata.rdb").read_bytes()
    objects = {}
    for name, (offset, length) in index["variables"].items():
        # each entry: 4 bytes of uncompressed length, then the zlib stream
        blob = database[int(offset) : int(offset) + int(length)]
        objects[str(name)] = _convert(zlib.decompress(blob[4:]))
    return objects


AUSTEN = {
    "emma": "Emma",
    "mansfieldpark": "Mansfield Park",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
    "prideprejudice": "Pride and Prejudice",
    "sensesensibility": "Sense and Sensibility",
}


def gutenberg_body(lines: List[str]) -> List[str]:
    """The lines between Project Gutenberg's ``*** START OF`` and ``*** END OF`` marks
    (all lines when there are none)."""
    starts = [i for i, line in enumerate(lines) if line.startswith("*** START OF")]
    ends = [i for i, line in enumerate(lines) if line.startswith("*** END OF")]
    return lines[starts[0] + 1 if starts else 0 : ends[0] if ends else len(lines)]


def read_books(cache: Path) -> Dict[str, Book]:
    """The ten books by title: Austen's six, Moby Dick, and tidytext's Great
    Expectations, The War of the Worlds and Twenty Thousand Leagues under the Sea."""
    books: Dict[str, Book] = {}
    austen = packages.debian_package("r-cran-janeaustenr", cache) / R_LIBRARY / "janeaustenr"
    for key, lines in lazy_load_database(austen / "data").items():
        if key in AUSTEN:
            books[AUSTEN[key]] = Book(AUSTEN[key], "r-cran-janeaustenr", [str(x) for x in lines])
    tokenizers = packages.debian_package("r-cran-tokenizers", cache) / R_LIBRARY / "tokenizers"
    (moby,) = lazy_load_database(tokenizers / "data")["mobydick"]
    lines = gutenberg_body(str(moby).splitlines())
    books["Moby Dick"] = Book("Moby Dick", "r-cran-tokenizers", lines)
    tidytext = packages.debian_package("r-cran-tidytext", cache) / R_LIBRARY / "tidytext"
    rdata = _rdata()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = rdata.read_rda(tidytext / "extdata" / "books.rda")["books"]
    for title, rows in frame.groupby("title", sort=True):
        books.setdefault(str(title), Book(str(title), "r-cran-tidytext", list(rows["text"])))
    return books
