-- A rerun from a step with that step's input edited (engine `rerun`): {hashed step id: [args]}.
-- Until the step is memoized, each call sends it as the step's memo {"input": [args]}, which
-- the TypeScript SDK runs the step with instead of the arguments in the code.
ALTER TABLE runs ADD COLUMN step_input TEXT;
