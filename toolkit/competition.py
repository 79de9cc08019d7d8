"""The competition dogkit is for, and the shape of the Kaggle names it deals in.

Standard library only: the command line, the kernel bundle and the Kaggle client wrapper all use it.
"""

from __future__ import annotations

import re

from toolkit.errors import DogkitError

COMPETITION = "generative-dog-images"  # the Kaggle slug
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$")  # a Kaggle username
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # what Kaggle makes of a title: lowercase words joined by dashes
_NEW_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{3,48}[a-z0-9]$")  # Kaggle wants titles of 5 to 50 characters


class BadName(DogkitError, ValueError):
    """A kernel or dataset name Kaggle could not know."""


def rules_url(competition: str = COMPETITION) -> str:
    return f"https://www.kaggle.com/competitions/{competition}/rules"


def _owner(owner: str, name: str) -> str:
    if not _OWNER.match(owner):
        raise BadName(
            f"owner {owner!r} of {name!r} is not a Kaggle username (letters, digits, '-' and '_', at most 50)"
        )
    return owner


def check_kernel_id(kernel: str, *, version: bool = False, new: bool = False) -> tuple[str, str, int | None]:
    """(owner, slug, version) of ``owner/slug`` (``owner/slug/VERSION`` too when ``version``).

    ``new``: the id of a kernel about to be created, whose slug must also be one Kaggle accepts
    for a title (5 to 50 lowercase letters, digits and dashes).

    Raises:
        BadName: anything else, saying what was expected.
    """
    parts = kernel.split("/")
    if len(parts) not in ((2, 3) if version else (2,)) or not all(parts):
        expected = "owner/slug" + (" or owner/slug/VERSION" if version else "")
        raise BadName(f"kernel must be given as {expected}, got {kernel!r}")
    owner, slug = _owner(parts[0], kernel), parts[1]
    if new and not _NEW_SLUG.match(slug):
        raise BadName(
            f"kernel slug {slug!r} must be 5 to 50 lowercase letters, digits and dashes, "
            "starting and ending with a letter or digit"
        )
    if not _SLUG.match(slug):
        raise BadName(f"kernel slug {slug!r} of {kernel!r} must be lowercase letters, digits and dashes")
    if len(parts) == 3 and not parts[2].isdigit():
        raise BadName(f"kernel version must be a number, got {parts[2]!r} in {kernel!r}")
    return owner, slug, int(parts[2]) if len(parts) == 3 else None


def check_dataset_id(dataset: str) -> str:
    """``owner/slug`` of a Kaggle dataset.

    Raises:
        BadName: not of that shape.
    """
    owner, _, slug = dataset.partition("/")
    if not owner or not slug or "/" in slug:
        raise BadName(f"dataset must look like owner/slug, got {dataset!r}")
    _owner(owner, dataset)
    if not _SLUG.match(slug):
        raise BadName(f"dataset slug {slug!r} of {dataset!r} must be lowercase letters, digits and dashes")
    return dataset
