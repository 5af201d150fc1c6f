"""Worker processes: which worker this is, and the patches at the places where
frameworks catch a worker's exception before any excepthook sees it."""
