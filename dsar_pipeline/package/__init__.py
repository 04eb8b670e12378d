"""The response package assembled: letter, export, report and recordings staged sealed, the manifest,
the archive written and checked against its manifest."""
