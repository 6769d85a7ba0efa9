"""What kind of media an item is, and how an attachment is described to the agent.

Audio in a format the engines read is transcribed; any other audio is unsupported;
images, videos, documents and contacts become a short description such as
"[image: photo.jpg]" so the agent knows something was sent.
"""

from __future__ import annotations

import enum
import mimetypes
import re
from urllib.parse import unquote, urlsplit

# Audio the engines decode (PyAV locally; the OpenAI API takes the same formats).
AUDIO_EXTENSIONS: dict[str, str] = {
    "audio/ogg": ".ogg", "audio/opus": ".ogg", "application/ogg": ".ogg",
    "audio/mpeg": ".mp3", "audio/mp3": ".mp3",
    "audio/mp4": ".m4a", "audio/m4a": ".m4a", "audio/x-m4a": ".m4a", "audio/aac": ".aac",
    "audio/amr": ".amr", "audio/3gpp": ".3gp",
    "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav",
    "audio/webm": ".webm", "audio/flac": ".flac", "audio/x-flac": ".flac",
}
# What a media host may answer instead of the audio type the webhook declared.
NEUTRAL_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})

_LABELS = {"image": ("image", "photo"), "video": ("video", "video"), "audio": ("audio", "audio")}
_CONTACT_TYPES = frozenset({"text/vcard", "text/x-vcard", "text/directory"})
_SAFE_NAME = re.compile(r"^[\w][\w .()-]{0,79}\.[A-Za-z0-9]{1,8}$")


class MediaKind(enum.Enum):
    AUDIO = "audio"
    UNSUPPORTED_AUDIO = "unsupported_audio"
    ATTACHMENT = "attachment"


def media_type(content_type: str) -> str:
    """`audio/ogg; codecs=opus` → `audio/ogg`."""
    return content_type.split(";")[0].strip().lower()


def kind_of(content_type: str) -> MediaKind:
    mime = media_type(content_type)
    if mime in AUDIO_EXTENSIONS:
        return MediaKind.AUDIO
    if mime.startswith("audio/"):
        return MediaKind.UNSUPPORTED_AUDIO
    return MediaKind.ATTACHMENT


def audio_filename(content_type: str) -> str:
    """A file name for an upload whose format the API infers from the extension."""
    return "voice" + AUDIO_EXTENSIONS.get(media_type(content_type), ".ogg")


def _name_in_url(url: str) -> str | None:
    try:
        last = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    except ValueError:  # a malformed URL: the attachment is described without a name
        return None
    return last if _SAFE_NAME.match(last) else None


def describe_attachment(url: str, content_type: str) -> str:
    """A short description of an attachment, e.g. "[image: photo.jpg]"."""
    mime = media_type(content_type)
    if mime in _CONTACT_TYPES:
        label, stem = "contact", "contact"
    else:
        label, stem = _LABELS.get(mime.split("/")[0], ("document", "document"))
    name = _name_in_url(url)
    if name is None:
        extension = {"image/jpeg": ".jpg", "text/vcard": ".vcf", "text/x-vcard": ".vcf"}.get(mime)
        name = stem + (extension or mimetypes.guess_extension(mime) or "")
    return f"[{label}: {name}]"
