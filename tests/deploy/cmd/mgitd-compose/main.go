// mgitd-compose loads containers/compose.yaml with compose-go, the parser Docker Compose
// itself uses (schema validation, interpolation, normalisation), and checks that the
// development stack has the services the docs promise.
//
// Usage: mgitd-compose compose.yaml
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mgitd-compose compose.yaml")
		os.Exit(2)
	}
	project, err := load(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "mgitd-compose: %v\n", err)
		os.Exit(1)
	}
	var problems []string
	need := func(name string) *types.ServiceConfig {
		svc, ok := project.Services[name]
		if !ok {
			problems = append(problems, "no service "+name)
			return nil
		}
		return &svc
	}
	if kafka := need("kafka"); kafka != nil && !strings.HasPrefix(kafka.Image, "apache/kafka:") {
		problems = append(problems, "kafka does not run the apache/kafka image")
	}
	if m := need("mgitd"); m != nil {
		if m.Deploy == nil || m.Deploy.Replicas == nil || *m.Deploy.Replicas != 2 {
			problems = append(problems, "mgitd does not run two replicas")
		}
		if m.HealthCheck == nil || len(m.HealthCheck.Test) < 2 || m.HealthCheck.Test[1] != "/usr/local/bin/mgitd" {
			problems = append(problems, "mgitd's healthcheck is not mgitd healthcheck")
		}
		if !m.ReadOnly {
			problems = append(problems, "mgitd's root filesystem is writable")
		}
		if _, ok := m.DependsOn["kafka"]; !ok {
			problems = append(problems, "mgitd does not wait for kafka")
		}
	}
	need("git-server")
	need("prometheus")
	need("grafana")
	names := make([]string, 0, len(project.Services))
	for name := range project.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "mgitd-compose: "+p)
		}
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "mgitd-compose: %s parsed (compose-go): project %s, services %s, volumes %d\n",
		os.Args[1], project.Name, strings.Join(names, " "), len(project.Volumes))
}

func load(path string) (*types.Project, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithName("mgitd"),
		// Only the file's own defaults: the developer's environment must not change the result.
		cli.WithEnv(nil),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}
