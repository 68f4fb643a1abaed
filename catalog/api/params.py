"""Validation of the read API's query parameters: bad input is a 400 that says what is wrong."""

from django import forms

from catalog.backends.base import ORDERINGS, STATUS_VALUES, ModelQuery

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
# What a database can hold as OFFSET (a signed 64-bit integer), less a page: larger offsets are
# the client's mistake (400), not a store failure.
MAX_OFFSET = 2**63 - 1 - MAX_LIMIT
# Slugs are at most this long in the database (catalog.models.Model.slug).
MAX_SLUG_LENGTH = 255
ORDERING_CHOICES = [(name, name) for key in ORDERINGS for name in (key, f"-{key}")]


class ModelListParams(forms.Form):
    # Django's CharField refuses NUL characters: every text parameter gets that check too.
    limit = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    offset = forms.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET)
    provider = forms.CharField(required=False, max_length=200)
    status = forms.ChoiceField(required=False, choices=[(s, s) for s in STATUS_VALUES])
    modality = forms.CharField(required=False, max_length=100)
    capability = forms.CharField(required=False, max_length=100)
    isActive = forms.ChoiceField(required=False, choices=[("true", "true"), ("false", "false")])
    q = forms.CharField(required=False, max_length=200)
    search = forms.CharField(required=False, max_length=200)
    ordering = forms.ChoiceField(required=False, choices=ORDERING_CHOICES)

    def to_query(self) -> ModelQuery:
        data = self.cleaned_data
        is_active = {"true": True, "false": False}.get(data["isActive"])
        return ModelQuery(
            # Larger pages are clamped, not refused: the response's `limit` says what was used.
            limit=min(data["limit"] or DEFAULT_LIMIT, MAX_LIMIT),
            offset=data["offset"] or 0,
            provider=data["provider"] or None,
            status=data["status"] or None,
            modality=data["modality"] or None,
            capability=data["capability"] or None,
            is_active=is_active,
            q=data["q"] or data["search"] or None,
            ordering=data["ordering"] or "slug",
        )


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` cannot name a model (the client's mistake: a 400), or None."""
    if "\x00" in slug:
        return "the slug contains a NUL character"
    if len(slug) > MAX_SLUG_LENGTH:
        return f"the slug is longer than {MAX_SLUG_LENGTH} characters"
    return None
