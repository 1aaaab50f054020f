package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/ppter/ppter/functions/internal/api"
)

// repoRoot finds the module root (the directory holding go.mod) above the test's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// project is the parsed s.yaml, its ${vars.…} resolved the way Serverless Devs does.
type project struct {
	raw      map[string]any
	vars     map[string]any
	used     map[string]bool
	resolved map[string]any
}

func loadProject(t *testing.T) *project {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := &project{used: map[string]bool{}}
	if err := yaml.Unmarshal(data, &p.raw); err != nil {
		t.Fatalf("s.yaml: %v", err)
	}
	p.vars, _ = p.raw["vars"].(map[string]any)
	r, err := p.resolve(p.raw, "")
	if err != nil {
		t.Fatalf("s.yaml: %v", err)
	}
	p.resolved = r.(map[string]any)
	return p
}

var (
	magicRE   = regexp.MustCompile(`\$\{([^}]*)\}`)
	wholeVar  = regexp.MustCompile(`^\$\{\s*vars\.([A-Za-z0-9_.]+)\s*\}$`)
	varRef    = regexp.MustCompile(`^\s*vars\.([A-Za-z0-9_.]+)\s*$`)
	envRef    = regexp.MustCompile(`^env\('([A-Za-z_][A-Za-z0-9_]*)'(\s*,\s*'[^']*')?\)$`)
	envWholly = regexp.MustCompile(`^\$\{env\('([A-Za-z_][A-Za-z0-9_]*)'(\s*,\s*'[^']*')?\)\}$`)
)

// lookup returns the value of vars.path.
func (p *project) lookup(path string) (any, error) {
	var v any = p.vars
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("vars.%s: not found", path)
		}
		if v, ok = m[k]; !ok {
			return nil, fmt.Errorf("vars.%s: not found", path)
		}
	}
	p.used[strings.Split(path, ".")[0]] = true
	return v, nil
}

// resolve replaces ${vars.…} references: a string that is one reference takes the
// referenced value with its type (as Serverless Devs does); references inside a longer
// string are interpolated. ${env('…')} stays as written (the component sees it resolved
// from the deployer's shell at deploy time; here it is a string). Serverless Devs 3 refuses
// '-' inside ${…}, and anything other than vars and env is unexpected in this project.
func (p *project) resolve(v any, at string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := p.resolve(e, at+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := p.resolve(e, fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case string:
		for _, m := range magicRE.FindAllStringSubmatch(x, -1) {
			expr := m[1]
			if strings.HasPrefix(strings.TrimSpace(expr), "vars.") && strings.Contains(expr, "-") {
				return nil, fmt.Errorf("%s: %q: Serverless Devs 3 does not allow '-' in a reference", at, x)
			}
			if !varRef.MatchString(expr) && !envRef.MatchString(expr) {
				return nil, fmt.Errorf("%s: %q: unexpected magic variable", at, x)
			}
		}
		if m := wholeVar.FindStringSubmatch(x); m != nil {
			val, err := p.lookup(m[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", at, err)
			}
			return p.resolve(val, at)
		}
		var err error
		out := magicRE.ReplaceAllStringFunc(x, func(s string) string {
			m := varRef.FindStringSubmatch(magicRE.FindStringSubmatch(s)[1])
			if m == nil {
				return s // env('…')
			}
			val, e := p.lookup(m[1])
			if e != nil {
				err = e
				return s
			}
			return fmt.Sprint(val)
		})
		return out, err
	default:
		return v, nil
	}
}

// fc3Resources returns the resolved props of every fc3 resource, by name.
func (p *project) fc3Resources(t *testing.T) map[string]map[string]any {
	t.Helper()
	res, _ := p.resolved["resources"].(map[string]any)
	out := map[string]map[string]any{}
	for name, r := range res {
		rm, _ := r.(map[string]any)
		if rm["component"] == "fc3" {
			props, ok := rm["props"].(map[string]any)
			if !ok {
				t.Fatalf("resources.%s.props: not a mapping", name)
			}
			out[name] = props
		}
	}
	if len(out) == 0 {
		t.Fatal("s.yaml has no fc3 resource")
	}
	return out
}

// asJSON turns a YAML-decoded value into what a JSON decoder would give, for the validator.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// loadSchema reads the fc3 component's schema from ../shared/fc3 beside the checkout.
func loadSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	path := filepath.Join(repoRoot(t), "..", "shared", "fc3", "schema.json")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("fc3 JSON Schema not found at %s (it lives beside the checkout in CI, never in the repository): %v", path, err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///fc3/schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("file:///fc3/schema.json")
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return sch, doc.(map[string]any)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// unknownKeys lists the keys of got that the schema object def does not declare. The fc3
// schema allows additional properties, so a misspelt key would otherwise pass silently.
func unknownKeys(got map[string]any, def map[string]any) []string {
	props, _ := def["properties"].(map[string]any)
	var out []string
	for _, k := range keys(got) {
		if _, ok := props[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func TestSYAMLMatchesFC3Schema(t *testing.T) {
	p := loadProject(t)
	sch, doc := loadSchema(t)
	defs := doc["definitions"].(map[string]any)
	for name, props := range p.fc3Resources(t) {
		if err := sch.Validate(asJSON(t, props)); err != nil {
			t.Errorf("resources.%s.props against the fc3 schema:\n%v", name, err)
		}
		if u := unknownKeys(props, doc); len(u) > 0 {
			t.Errorf("resources.%s.props: keys unknown to fc3: %v", name, u)
		}
		triggers, _ := props["triggers"].([]any)
		for i, tr := range triggers {
			trm := tr.(map[string]any)
			if u := unknownKeys(trm, defs["ITrigger"].(map[string]any)); len(u) > 0 {
				t.Errorf("resources.%s.props.triggers[%d]: keys unknown to fc3: %v", name, i, u)
			}
			def := map[string]string{"http": "IHttpTriggerConfig", "timer": "ITimerTriggerConfig"}[fmt.Sprint(trm["triggerType"])]
			if def == "" {
				continue
			}
			cfg, _ := trm["triggerConfig"].(map[string]any)
			if u := unknownKeys(cfg, defs[def].(map[string]any)); len(u) > 0 {
				t.Errorf("resources.%s.props.triggers[%d].triggerConfig: keys unknown to %s: %v", name, i, def, u)
			}
			// anyOf over every trigger kind accepts nearly anything: check the right one.
			c := jsonschema.NewCompiler()
			if err := c.AddResource("file:///fc3/schema.json", doc); err != nil {
				t.Fatal(err)
			}
			ts, err := c.Compile("file:///fc3/schema.json#/definitions/" + def)
			if err != nil {
				t.Fatal(err)
			}
			if err := ts.Validate(asJSON(t, cfg)); err != nil {
				t.Errorf("resources.%s.props.triggers[%d].triggerConfig against %s:\n%v", name, i, def, err)
			}
		}
	}
}

// TestSchemaCatchesMistakes proves the validation above has teeth: broken copies of the
// props fail it.
func TestSchemaCatchesMistakes(t *testing.T) {
	p := loadProject(t)
	sch, _ := loadSchema(t)
	props := p.fc3Resources(t)["ppter"]
	for name, mutate := range map[string]func(m map[string]any){
		"memory not a multiple of 64": func(m map[string]any) { m["memorySize"] = 100 },
		"unknown runtime":             func(m map[string]any) { m["runtime"] = "go2" },
		"no handler":                  func(m map[string]any) { delete(m, "handler") },
		"bad region":                  func(m map[string]any) { m["region"] = "cn-nowhere" },
		"vpc without vSwitches":       func(m map[string]any) { delete(m["vpcConfig"].(map[string]any), "vSwitchIds") },
		"numeric env value":           func(m map[string]any) { m["environmentVariables"].(map[string]any)["X"] = 1 },
	} {
		t.Run(name, func(t *testing.T) {
			m := asJSON(t, props).(map[string]any)
			mutate(m)
			if err := sch.Validate(m); err == nil {
				t.Error("the schema accepted broken props")
			}
		})
	}
}

func TestSYAMLContent(t *testing.T) {
	p := loadProject(t)
	if p.raw["edition"] != "3.0.0" {
		t.Errorf("edition: got %v, want 3.0.0", p.raw["edition"])
	}
	for _, k := range keys(p.vars) {
		if strings.Contains(k, "-") {
			t.Errorf("vars.%s: '-' cannot be referenced in Serverless Devs 3", k)
		}
		if !p.used[k] {
			t.Errorf("vars.%s: defined but not used", k)
		}
	}
	props := p.fc3Resources(t)["ppter"]
	if props == nil {
		t.Fatal("no fc3 resource named ppter")
	}
	for k, want := range map[string]any{
		"functionName": "ppter",
		"runtime":      "go1",
		"handler":      "main",
		"code":         "./dist/fc",
		"memorySize":   128,
	} {
		if got := props[k]; got != want {
			t.Errorf("props.%s: got %v (%T), want %v", k, got, got, want)
		}
	}
	if to, ok := props["timeout"].(int); !ok || to < 10 || to > 600 {
		t.Errorf("props.timeout: got %v, want an integer between 10 and 600 s", props["timeout"])
	}
	if r, _ := props["role"].(string); !strings.HasPrefix(r, "acs:ram::") {
		t.Errorf("props.role: got %q, want a RAM role ARN", r)
	}
	if _, ok := props["vpcConfig"].(map[string]any); !ok {
		t.Error("props.vpcConfig: missing (the function reaches Redis through the VPC)")
	}

	// Environment: every value comes from the deployer's shell, no literal, no FC_ name.
	env, _ := props["environmentVariables"].(map[string]any)
	for _, want := range []string{"PPTER_CONFIG", "PPTER_REDIS_URL", "PPTER_ADMIN_TOKEN"} {
		if _, ok := env[want]; !ok {
			t.Errorf("environmentVariables.%s: missing", want)
		}
	}
	sites := 0
	for _, k := range keys(env) {
		v, _ := env[k].(string)
		m := envWholly.FindStringSubmatch(v)
		switch {
		case m == nil:
			t.Errorf("environmentVariables.%s: %q is not ${env('…')} (no literal values here)", k, v)
		case m[1] != k:
			t.Errorf("environmentVariables.%s: reads env %s, want the same name", k, m[1])
		case k != "PPTER_CONFIG" && m[2] != "":
			t.Errorf("environmentVariables.%s: a default would deploy without the secret", k)
		}
		if strings.HasPrefix(k, "FC_") {
			t.Errorf("environmentVariables.%s: the FC_ prefix is reserved", k)
		}
		if strings.HasPrefix(k, "PPTER_KEY_") {
			sites++
		}
	}
	if sites == 0 {
		t.Error("environmentVariables: no PPTER_KEY_<SITE>")
	}

	// Triggers: one anonymous HTTP trigger (GET, POST), the reconcile timer and the resume
	// timer (payload "resume", every minute).
	var httpT, timerT, resumeT map[string]any
	triggers, _ := props["triggers"].([]any)
	for _, tr := range triggers {
		m := tr.(map[string]any)
		cfg, _ := m["triggerConfig"].(map[string]any)
		switch {
		case m["triggerType"] == "http":
			httpT = cfg
		case m["triggerType"] == "timer" && cfg["payload"] == api.ResumePayload:
			resumeT = cfg
		case m["triggerType"] == "timer":
			timerT = cfg
		}
	}
	if httpT == nil || timerT == nil || resumeT == nil {
		t.Fatalf("triggers: want one http, one reconcile timer and one resume timer, got %v", triggers)
	}
	if resumeT["enable"] != true || resumeT["cronExpression"] != "@every 1m" {
		t.Errorf("resume timer: got %v, want enabled @every 1m", resumeT)
	}
	if httpT["authType"] != "anonymous" {
		t.Errorf("http trigger authType: got %v, want anonymous (ppter authenticates itself)", httpT["authType"])
	}
	var methods []string
	for _, m := range httpT["methods"].([]any) {
		methods = append(methods, m.(string))
	}
	sort.Strings(methods)
	if !slices.Equal(methods, []string{"GET", "POST"}) {
		t.Errorf("http trigger methods: got %v, want [GET POST]", methods)
	}
	if timerT["enable"] != true {
		t.Errorf("timer enable: got %v, want true", timerT["enable"])
	}
	if timerT["cronExpression"] != "@every 5m" {
		t.Errorf("timer cronExpression: got %v, want @every 5m", timerT["cronExpression"])
	}
	if pl, _ := timerT["payload"].(string); pl == "" {
		t.Error("timer payload: missing")
	}

	// pre-deploy builds the code directory with make package.
	res := p.resolved["resources"].(map[string]any)["ppter"].(map[string]any)
	actions, _ := res["actions"].(map[string]any)
	steps, _ := actions["pre-deploy"].([]any)
	found := false
	for _, s := range steps {
		if run, _ := s.(map[string]any)["run"].(string); strings.Contains(run, "make package") {
			found = true
		}
	}
	if !found {
		t.Errorf("actions.pre-deploy: no step runs make package: %v", steps)
	}
}

// TestSYAMLHasNoSecrets scans the file itself for values that look like credentials.
func TestSYAMLHasNoSecrets(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`LTAI[0-9A-Za-z]{12,}`),               // AccessKey ID
		regexp.MustCompile(`(?i)redis(s)?://[^$\s'"]*:[^@\s]+@`), // URL with a password
		regexp.MustCompile(`(?i)(secret|password|token|key)\s*:\s*['"]?[A-Za-z0-9+/=_-]{16,}`),
	} {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			if re.MatchString(line) {
				t.Errorf("s.yaml line looks like a secret (%s): %s", re, line)
			}
		}
	}
}
