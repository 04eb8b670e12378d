"""The portability export: JSON, CSV and Parquet per system, consumption series, redaction, dictionary."""
