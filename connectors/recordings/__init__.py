"""Connector for the call centre's recordings in S3 (audio, metadata sidecars, month indexes); see `connector`."""

from connectors.recordings.connector import RecordingsConnector
from connectors.recordings.copying import CopyResult

__all__ = ["CopyResult", "RecordingsConnector"]
