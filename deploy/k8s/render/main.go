// Renders a kustomization exactly as `kubectl kustomize DIR` (and so `kubectl apply -k DIR`)
// does, with kustomize's own library and no cluster: the tests validate what this prints.
//
//	go run ./deploy/k8s/render deploy/k8s
//
// Prints the rendered resources as one YAML stream; on error the message on stderr, exit 1.
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: render <kustomization directory>")
		os.Exit(2)
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).
		Run(filesys.MakeFsOnDisk(), os.Args[1])
	if err == nil {
		var out []byte
		if out, err = resources.AsYaml(); err == nil {
			_, err = os.Stdout.Write(out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
