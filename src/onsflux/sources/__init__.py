"""Sources: list objects on disk or S3 and stream them as Chunks of one measurement.

```
list_objects(urls, settings) -> list[ObjectRef]     objects.py  (disk, s3://)
read_object(ref, settings)  -> Iterator[Chunk]      readers.py  (Parquet, CSV streaming)
    detect_format(columns)                          detect.py   (pure)
    adapters: ONS generation/load/interchange,      adapters.py (pure, vectorized)
              processed long, wide
    localize / to_utc_ns                            timezone.py (pure)
```

Importing the package loads only the pure modules; ``list_objects`` and ``read_object``
(I/O) resolve lazily for older imports. New code imports them from ``objects`` /
``readers``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .adapters import coerce_numbers, make_adapter
from .detect import DetectedFormat, detect_format
from .timezone import AmbiguityTracker, localize, to_utc_ns

if TYPE_CHECKING:
    from .objects import list_objects
    from .readers import read_object

__getattr__ = lazy_exports(__name__, {"list_objects": "objects", "read_object": "readers"})

__all__ = [
    "AmbiguityTracker",
    "DetectedFormat",
    "coerce_numbers",
    "detect_format",
    "list_objects",
    "localize",
    "make_adapter",
    "read_object",
    "to_utc_ns",
]
