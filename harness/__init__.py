"""The development harness: `dsar demo`, `dsar ui`, `dsar sandbox`, `dsar ticket example`, the embedded
Dagster home and the sandbox process. Not part of the product; the product never imports it."""
