// Command testreport reads `go test -json` events on stdin and prints what
// a person needs from a long run: one line per package, the full output of
// every failed test, and a closing summary line "tests: N passed, N failed,
// N skipped". It exits 1 if anything failed, including a package that did
// not build.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	var passed, failed, skipped, badPkgs int
	out := map[string][]string{} // package/test → output lines
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Println(string(line)) // build errors arrive as plain text
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			if len(out[key]) < 2000 {
				out[key] = append(out[key], e.Output)
			}
		case "pass", "fail", "skip":
			if e.Test == "" {
				status := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[e.Action]
				fmt.Printf("%s %s %s\n", status, e.Package, time.Duration(e.Elapsed*float64(time.Second)).Round(10*time.Millisecond))
				if e.Action == "fail" {
					badPkgs++
					// Package-level output holds build errors and panics.
					fmt.Print(strings.Join(out[key], ""))
				}
				delete(out, key)
				continue
			}
			switch e.Action {
			case "pass":
				passed++
			case "skip":
				skipped++
			case "fail":
				failed++
				fmt.Printf("--- FAIL: %s (%s)\n%s", e.Test, e.Package, strings.Join(out[key], ""))
			}
			delete(out, key)
		}
	}
	if failed == 0 && badPkgs > 0 {
		failed = badPkgs
	}
	fmt.Printf("tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || badPkgs > 0 {
		os.Exit(1)
	}
}
