"""Stop nltk's network downloads that ``espnet2.tasks`` triggers at import.

``g2p_en`` (imported by ESPnet's TTS front ends) looks for two nltk resources at
import and downloads them when missing; on an offline host that prints errors or
hangs. Empty stand-ins at the end of ``nltk.data.path`` satisfy the look-up while
real resources, where installed, still come first.
"""

import os
import zipfile
from pathlib import Path

STUB_RESOURCES = (
    "corpora/cmudict.zip",
    "taggers/averaged_perceptron_tagger_eng.zip",
)


def stub_dir() -> Path:
    """Folder that holds the stand-in resources."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "espnet_reuse" / "nltk_data"


def stop_nltk_downloads() -> None:
    """Write the stand-ins if missing and append their folder to nltk's path."""
    import nltk.data

    root = stub_dir()
    for resource in STUB_RESOURCES:
        path = root / resource
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            zipfile.ZipFile(tmp, "w").close()
            tmp.replace(path)
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))
