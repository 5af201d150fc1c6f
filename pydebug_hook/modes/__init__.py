"""The modes a session runs in, one package each."""
