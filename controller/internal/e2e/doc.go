// Package e2e holds the full-stack tests: the real guardcast-controller and
// guardcast-agent binaries, built from this tree, talking over the real
// embedded broker on 127.0.0.1 — killed, restarted and attacked.
package e2e
