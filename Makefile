.PHONY: demo test e2e lock

# The main job: the example clinical DAGs end to end against a local fabric-sandbox.
demo:
	bash scripts/demo.sh

# Lint, type checks and the whole test suite, in environments built from the lock files.
test:
	bash scripts/test.sh

# The provider on a distributed Airflow (CeleryExecutor, PostgreSQL, Redis, S3), and its UI in chromium.
e2e:
	bash scripts/e2e.sh

# Re-resolve requirements/*.txt after a dependency change (UPGRADE=1 takes the newest releases).
lock:
	bash scripts/lock.sh
