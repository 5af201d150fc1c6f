"""A distributed job's sessions: which failure is the root cause, keeping the job alive
while they are open, and the launchers that are not ours to debug."""
