// Validates a Compose file the way `docker compose config` does, with no Docker engine:
// compose-go (the library Docker Compose itself loads files with) interpolates it, checks it
// against the Compose Specification's JSON schema and resolves references between services.
//
//	go run ./deploy/compose/validate docker-compose.yml
//
// Exit 0 and no output when the file is valid; otherwise the loader's error on stderr, exit 1.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: validate <compose file>")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions([]string{os.Args[1]},
		cli.WithName("leadloop"), cli.WithOsEnv, cli.WithDotEnv, cli.WithConsistency(true))
	if err == nil {
		_, err = options.LoadProject(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
