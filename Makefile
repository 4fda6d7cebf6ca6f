.PHONY: demo test

# The main job: the example clinical DAGs end to end against a local fabric-sandbox.
demo:
	bash scripts/demo.sh

# Lint, type checks and the whole test suite, in an environment built from nothing.
test:
	bash scripts/test.sh
