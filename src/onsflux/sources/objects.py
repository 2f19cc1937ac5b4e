"""Where objects live: listing and opening files on disk and objects in S3.

- Local paths (or ``file://`` URLs): a file is taken as given; a folder is walked
  recursively for ``.parquet``/``.csv``/``.csv.gz``/``.txt`` files, hidden files and
  folders skipped, sorted by path. ``ObjectRef.url`` is the absolute path.
- ``s3://bucket/key`` is one object; ``s3://bucket/prefix/`` (or a key that is not an
  object but a prefix) lists every matching object below it.

Listing S3 uses boto3 ``list_objects_v2``/``head_object`` because they return the
ETag (pyarrow's ``FileInfo`` does not), so ``ObjectRef.fingerprint`` is the ETag at no
extra request per object. Reading uses ``pyarrow.fs.S3FileSystem`` (native, streaming,
ranged reads for Parquet footers and row groups). Both take credentials from the
standard AWS chain (environment, config files, instance/task role) and the endpoint
and region from :class:`~onsflux.settings.Settings`.

Errors: a missing path, bucket or key → :class:`SourceError` naming it; connection
failures, throttling and 5xx → :class:`ServerUnavailable`. Listing is retried by the one
policy (``onsflux.retry``, botocore's own retries off); pyarrow's reads by its standard
strategy with the policy's number of attempts.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from ..aws import client_config, error_code, translate_botocore
from ..exceptions import OnsfluxError, ServerUnavailable, SourceError
from ..frames import ObjectRef
from ..retry import RetryPolicy
from ..settings import Settings

SUFFIXES: tuple[str, ...] = (".parquet", ".csv", ".csv.gz", ".txt")

_TRANSIENT_MARKERS = (
    "NETWORK_CONNECTION", "Couldn't connect", "Connection refused", "curlCode",
    "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Timeout",
    "Throttl", "HTTP response code: 5", "503", "500 ",
)


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def split_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` → ``("bucket", "some/key")``."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise SourceError("not an s3://bucket/key URL", path=url)
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(url: str) -> Path:
    if url.startswith("file://"):
        return Path(unquote(urlparse(url).path))
    return Path(url).expanduser()


def wanted(name: str) -> bool:
    """A file name listing keeps: a known suffix and not hidden."""
    lower = name.lower()
    return not name.startswith(".") and lower.endswith(SUFFIXES)


# --- listing ------------------------------------------------------------------------

def list_objects(urls: Sequence[str], settings: Settings) -> list[ObjectRef]:
    """Every object the given paths/URLs name, in order, without duplicates."""
    refs: dict[str, ObjectRef] = {}
    for url in urls:
        found = _list_s3(url, settings) if is_s3(url) else _list_local(url, settings)
        for ref in found:
            refs.setdefault(ref.url, ref)
    return list(refs.values())


def walk(url: str, settings: Settings,
         keep: Callable[[str], bool] = wanted) -> list[ObjectRef]:
    """Files below a folder or objects below an S3 prefix whose name ``keep`` accepts,
    hidden ones (a path part starting with ``.``) skipped, sorted; [] when none."""
    out: list[ObjectRef] = []
    if is_s3(url):
        bucket, key = split_s3(url)
        prefix = key.rstrip("/") + "/" if key else ""

        def listing(_attempt: int) -> list[ObjectRef]:
            found: list[ObjectRef] = []
            try:
                for page in s3_client(settings).get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix
                ):
                    for obj in page.get("Contents", []):
                        k = obj["Key"]
                        if k.endswith("/") or any(p.startswith(".")
                                                  for p in k[len(prefix):].split("/")):
                            continue
                        if keep(k.rsplit("/", 1)[-1]):
                            found.append(_s3_ref(bucket, k, obj["Size"], obj["LastModified"],
                                                 obj.get("ETag")))
            except Exception as exc:  # noqa: BLE001 - classified by _translate_boto
                raise _translate_boto(exc, url) from exc
            return found

        out = RetryPolicy.from_settings(settings).call(listing, what=f"list {url}")
        return sorted(out, key=lambda r: r.url)
    path = local_path(url)
    try:
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            out.extend(_local_ref(Path(root) / name) for name in files
                       if not name.startswith(".") and keep(name))
    except OSError as exc:
        raise SourceError(f"cannot list: {exc.strerror or exc}", path=str(path)) from exc
    return sorted(out, key=lambda r: r.url)


def _list_local(url: str, settings: Settings) -> list[ObjectRef]:
    path = local_path(url)
    if path.is_dir():
        return walk(url, settings)
    if os.path.lexists(path):  # a file, or something that is not one: said when read
        return [_local_ref(path)]
    raise SourceError("no such file or directory", path=str(path))


def _local_ref(path: Path) -> ObjectRef:
    """The reference to one listed path; a path that cannot be read gets a ``problem``
    (the object fails alone when ingested) instead of an error stopping its folder."""
    try:
        st = path.stat()
    except OSError as exc:
        if path.is_symlink():
            problem = f"broken symbolic link (to {os.readlink(path)!r}: {exc.strerror or exc})"
        else:
            problem = f"cannot read: {exc.strerror or exc}"
        return ObjectRef(url=str(path.absolute()), size=0, problem=problem)
    url = str(path.resolve())
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "not a regular file")
        return ObjectRef(url=url, size=0, mtime_ns=st.st_mtime_ns,
                         problem=f"not a regular file: {kind}; only regular files are read "
                                 "(reading a pipe could wait forever)")
    return ObjectRef(url=url, size=st.st_size, mtime_ns=st.st_mtime_ns)


def check_readable(ref: ObjectRef) -> None:
    """Raise the reason found while listing, if ``ref`` cannot be read."""
    if ref.problem:
        raise SourceError(ref.problem, path=ref.url)


@functools.lru_cache(maxsize=8)
def _boto3_client(endpoint_url: str | None, region: str) -> Any:
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint_url, region_name=region,
        config=client_config(s3={"addressing_style": "path"} if endpoint_url else {}),
    )


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the configured endpoint and region (cached)."""
    return _boto3_client(settings.s3_endpoint_url, settings.aws_region)


def _list_s3(url: str, settings: Settings) -> list[ObjectRef]:
    bucket, key = split_s3(url)
    client = s3_client(settings)
    if key and not key.endswith("/"):

        def head(_attempt: int) -> ObjectRef | None:
            try:
                found = client.head_object(Bucket=bucket, Key=key)
            except Exception as exc:  # noqa: BLE001 - classified below
                if _s3_status(exc) in (404, 403):
                    return None  # not one object: maybe a prefix
                raise _translate_boto(exc, url) from exc
            return _s3_ref(bucket, key, found["ContentLength"], found["LastModified"],
                           found.get("ETag"))

        one = RetryPolicy.from_settings(settings).call(head, what=f"head {url}")
        if one is not None:
            return [one]
    out = walk(url, settings)
    if not out:
        raise SourceError("no such object, and no Parquet/CSV objects under that prefix",
                          path=url)
    return sorted(out, key=lambda r: r.url)


def _s3_ref(bucket: str, key: str, size: int, modified: Any, etag: str | None) -> ObjectRef:
    mtime_ns = int(modified.timestamp() * 1_000_000_000) if modified is not None else 0
    return ObjectRef(url=f"s3://{bucket}/{key}", size=int(size), mtime_ns=mtime_ns,
                     etag=etag.strip('"') if etag else None)


def _s3_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return 404
        return int(status) if status else None
    return None


def _translate_boto(exc: BaseException, url: str) -> OnsfluxError:
    if error_code(exc) == "NoSuchBucket":
        return SourceError("no such bucket", path=url)
    return translate_botocore(exc, service="S3", where=url)


# --- opening --------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _s3_filesystem(endpoint_url: str | None, region: str, attempts: int) -> pafs.S3FileSystem:
    # pyarrow reads natively and streams, so our policy cannot wrap a read: its own
    # standard strategy retries, with the same number of attempts as ``onsflux.retry``
    kwargs: dict[str, Any] = {
        "region": region, "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=attempts),
    }
    if endpoint_url:
        parsed = urlparse(endpoint_url)
        if parsed.scheme in ("http", "https"):
            kwargs["endpoint_override"] = parsed.netloc + parsed.path.rstrip("/")
            kwargs["scheme"] = parsed.scheme
        else:
            kwargs["endpoint_override"] = endpoint_url
    return pafs.S3FileSystem(**kwargs)


def filesystem(url: str, settings: Settings) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and the path inside it for ``url``."""
    if is_s3(url):
        bucket, key = split_s3(url)
        try:
            fs = _s3_filesystem(settings.s3_endpoint_url, settings.aws_region,
                                settings.max_attempts)
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"cannot set up S3 access: {exc}", path=url) from exc
        return fs, f"{bucket}/{key}"
    return pafs.LocalFileSystem(), str(local_path(url))


def open_random_access(url: str, settings: Settings) -> pa.NativeFile:
    """A seekable file (Parquet needs the footer first)."""
    fs, path = filesystem(url, settings)
    try:
        return fs.open_input_file(path)
    except (OSError, pa.ArrowException) as exc:
        raise translate_arrow(exc, url) from exc


def open_stream(url: str, settings: Settings) -> pa.NativeFile:
    """A sequential stream, gunzipped when the name ends in ``.gz``."""
    fs, path = filesystem(url, settings)
    compression = "gzip" if url.lower().endswith(".gz") else None
    try:
        return fs.open_input_stream(path, compression=compression)
    except (OSError, pa.ArrowException) as exc:
        raise translate_arrow(exc, url) from exc


def translate_arrow(exc: BaseException, url: str, what: str = "cannot read") -> OnsfluxError:
    """A pyarrow/OS error while reading ``url`` → the most specific onsflux error."""
    if isinstance(exc, OnsfluxError):
        return exc
    text = str(exc)
    if is_s3(url) and any(m in text for m in _TRANSIENT_MARKERS):
        return ServerUnavailable(f"{url}: S3 unavailable: {first_line(text)}")
    if isinstance(exc, FileNotFoundError) or "Path does not exist" in text or (
        "NoSuchKey" in text or "NOT_FOUND" in text
    ):
        return SourceError("no such file or object", path=url)
    if isinstance(exc, OSError) and exc.strerror:
        return SourceError(f"{what}: {exc.strerror}", path=url)
    return SourceError(f"{what}: {first_line(text)}", path=url)


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


def read_head(url: str, settings: Settings, size: int = 1 << 20) -> bytes:
    """The first ``size`` bytes (decompressed for ``.gz``)."""
    stream = open_stream(url, settings)
    try:
        return bytes(stream.read(size))
    except (OSError, pa.ArrowException) as exc:
        raise translate_arrow(exc, url) from exc
    finally:
        stream.close()

