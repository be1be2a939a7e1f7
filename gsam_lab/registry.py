"""One shape for the lab's named models: a table ``name -> spec`` per kind, as timm keeps its models.

Four kinds, each with its table in the module that loads it:

==============  ====================================  =================================================
kind            table                                 loader (a name from the table, or a path)
==============  ====================================  =================================================
SAM             ``sam.SAM_MODELS`` (``SamSpec``)       ``sam.load_sam("tiny-synth" | "vit_h" | path)``
TA              ``goodsam.TEACHERS`` (``TeacherSpec``) ``goodsam.load_teacher("tiny-synth" | HF id | path)``
student         ``goodsam.STUDENTS`` (``StudentSpec``) ``goodsam.load_student("tiny-synth" | path)``
plugins         ``stable_sam.PLUGINS`` (``PluginSpec``) ``stable_sam.load("tiny-synth" | path, model=...)``
==============  ====================================  =================================================

Every table is a :class:`Registry`: a ``dict`` (``name in TABLE``, ``TABLE[name]``, ``sorted(TABLE)``)
with ``register(spec)``, ``spec(name)`` (an unknown name lists the known ones) and ``names()``. Every
spec is a :class:`ModelSpec`: it says where its weights are read from (``location()``) and whether they
are there (``present()``); ``gsam-lab doctor`` prints both for every name (:func:`gsam_lab.doctor.listing`).

The modules that hold the tables import this one; it imports none of them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Protocol, TypeVar, Union

from gsam_lab.bundled import ASSETS_DIR

__all__ = ["ModelSpec", "Registry", "BundledFile"]


class ModelSpec(Protocol):
    """What every row of every table has (a protocol: the specs share these members, not a base class)."""

    @property
    def name(self) -> str:
        """The registry key."""

    def location(self) -> Union[Path, str]:
        """Where the weights are read from: a file, or a Hugging Face id."""

    def present(self) -> bool:
        """Whether the weights are there (the file exists, or the id is in the Hugging Face cache)."""


S = TypeVar("S", bound=ModelSpec)


class BundledFile:
    """:class:`ModelSpec`'s ``location()`` and ``present()`` for specs whose weights are one file in
    ``gsam_lab/assets`` (field ``filename``)."""

    filename: str

    def location(self) -> Path:
        return ASSETS_DIR / self.filename

    def present(self) -> bool:
        return self.location().is_file()


class Registry(Dict[str, S]):
    """``name -> spec`` for one kind of model (``kind`` names it in messages)."""

    def __init__(self, kind: str, specs: Iterable[S] = (), hint: str = ""):
        super().__init__()
        self.kind, self.hint = kind, hint
        for s in specs:
            self.register(s)

    def register(self, spec: S, overwrite: bool = False) -> S:
        """Add ``spec`` under ``spec.name`` (``overwrite=True`` replaces an existing name)."""
        name = getattr(spec, "name")
        if name in self and not overwrite:
            raise ValueError(f"a {self.kind} named {name!r} is already registered (pass overwrite=True to replace it)")
        self[name] = spec
        return spec

    def spec(self, name: str) -> S:
        """The spec of ``name``; an unknown name raises ``ValueError`` listing the known ones."""
        try:
            return self[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.kind} {name!r}; known names: {', '.join(self)}"
                             + (f" ({self.hint})" if self.hint else "")) from None

    def names(self) -> List[str]:
        return list(self)
