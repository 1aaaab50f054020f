// Package deploy holds the checks of ppter's deployment artifacts: s.yaml (the Serverless
// Devs project, validated against the fc3 component's JSON Schema after resolving its
// ${vars.…}) and the code package that scripts/package.sh builds for `make package`.
// It has no code used at run time; its tests are its content.
package deploy
