"""The one rule for showing an email address without giving it away: ``u***@example.com``.

Job and notification reprs, certificate subjects in logs and messages, and the command
line's error lines all show addresses through :func:`mask_emails`: the first character of
the local part stays, the rest of it becomes ``***``, the domain stays. A leaf module:
it imports nothing of the package, so models and the TLS code can both use it.
"""

from __future__ import annotations

import re

__all__ = ["mask_email", "mask_emails"]

#: A local part: a run of characters that cannot separate it from what comes before
#: (space, quotes, brackets, ``,;=/`` as in RFC 4514 subjects and URLs), then ``@`` and
#: the start of a domain.
_LOCAL_PART = re.compile(r"([^\s@,;=/<>()\[\]\\\"'])[^\s@,;=/<>()\[\]\\\"']*@(?=[^\s@])")


def mask_emails(text: str) -> str:
    """Mask every email address in ``text``: ``for user@example.com`` -> ``for u***@example.com``.

    Args:
        text: A message, a log line or a certificate subject.

    Returns:
        The text with the local part of each address hidden but its first character.
    """
    return _LOCAL_PART.sub(r"\1***@", text)


def mask_email(value: object) -> str:
    """The repr of an email field: ``'u***@example.com'`` (a value without ``@``: ``'u***'``).

    The whole value is the address, so its local part is everything before the first
    ``@``, whatever characters it holds.
    """
    if not isinstance(value, str):
        return repr(value)
    local, at, domain = value.partition("@")
    return repr(f"{local[:1]}***{at}{mask_emails(domain)}")
