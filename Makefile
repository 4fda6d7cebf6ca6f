.PHONY: demo test lock

# The main job: the example clinical DAGs end to end against a local fabric-sandbox.
demo:
	bash scripts/demo.sh

# Lint, type checks and the whole test suite, in environments built from the lock files.
test:
	bash scripts/test.sh

# Re-resolve requirements/*.txt after a dependency change (UPGRADE=1 takes the newest releases).
lock:
	bash scripts/lock.sh
