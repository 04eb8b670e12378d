"""The desk's pages: the review bundle with the decision form under it, and one-line answers."""

from __future__ import annotations

from html import escape

from dsar_pipeline.review.links import ReviewLink

FORM = """
<section id="decision" style="border-top:3px solid #333;margin-top:2em;padding-top:1em">
<h2>Decision on {request_id}</h2>
<p>Deciding on review bundle <code>{sha}</code>. The decision is recorded in the audit trail with your user id
and this bundle's SHA-256; if the bundle is rebuilt before the decision runs, it is refused.</p>
<form method="post" action="/decide/{request_id}">
<input type="hidden" name="sha" value="{sha}"><input type="hidden" name="exp" value="{exp}">
<input type="hidden" name="sig" value="{sig}">
{user_field}
<p><label><input type="checkbox" name="include_unbound" value="1"> also release records reached only through
an identifier the ticket claims (only with "Approve with the records in review", after confirming them)</label></p>
<p><button type="submit" name="decision" value="approve">Approve the package as built</button>
<button type="submit" name="decision" value="approve_with_review_records">Approve with the records in review</button>
<button type="submit" name="decision" value="reject">Reject</button></p>
</form>
</section>
"""

USER_FIELD = """<p><label>Your user id <input name="dpo_user" required pattern="[a-z][a-z0-9_.\\-]{0,63}"
autocomplete="username"></label> (not signed in: recorded as you give it, marked unauthenticated)</p>"""
SIGNED_IN = """<p>Signed in as <strong>{user}</strong>.</p>"""


def with_form(bundle_html: bytes, link: ReviewLink, decide_query: str, user: str | None) -> bytes:
    """The bundle with the decision form before `</body>` (`decide_query`: the form's own signature)."""
    fields = dict(part.split("=", 1) for part in decide_query.split("&"))
    form = FORM.format(request_id=escape(link.request_id), sha=escape(fields["sha"]), exp=escape(fields["exp"]),
                       sig=escape(fields["sig"]),
                       user_field=SIGNED_IN.format(user=escape(user)) if user else USER_FIELD).encode()
    text = bundle_html
    at = text.rfind(b"</body>")
    return text[:at] + form + text[at:] if at >= 0 else text + form


def message(title: str, line: str) -> bytes:
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
            f"<body><h1>{escape(title)}</h1><p>{escape(line)}</p></body></html>").encode()
