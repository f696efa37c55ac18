"""The error of a data set that does not fit, shared by the whole-file loader
(``sandbox/dataset_file.py``) and each simulator's part (``sandbox/*/dataset.py``)."""

from __future__ import annotations


class DatasetError(ValueError):
    """A data set item that does not fit, named by its place and field."""

    def __init__(self, item: str, field: str, message: str) -> None:
        self.item = item
        self.field = field
        super().__init__(f"{item}: field '{field}': {message}")
