// Package stack holds the website's deployment as data: its environments,
// its images and its registry. Everything else takes these as parameters, so
// there is one implementation of each operation, not one per environment.
package stack

import (
	"fmt"
	"strings"
)

// The folders the stacks mount that the tool makes and fills, relative to
// the project root (git ignores them all). The compose files name the same.
const (
	SSLDir         = "nginx/data/ssl"          // the tool's self-signed certificate
	CertbotConfig  = "nginx/data/certbot/conf" // certbot's state; nginx mounts it read-only
	CertbotWork    = "nginx/data/certbot/work"
	CertbotLogs    = "nginx/data/certbot/logs"
	CertbotWebroot = "nginx/data/certbot/www" // the ACME challenge nginx serves
)

// ToolFolders are the tool's own folders the stacks mount, made before a
// stack starts so that docker does not create them owned by root. The
// services' data folders come from the compose files
// (compose.WritableBinds).
var ToolFolders = []string{SSLDir, CertbotWebroot, CertbotConfig}

// DeployLog is where the server keeps its deploys of the release stack
// (JSON, one a line), relative to the project root; git ignores .dtx/.
const DeployLog = ".dtx/deploys.jsonl"

// DefaultPrefix starts every compose project and Swarm stack name unless
// COMPOSE_PROJECT_PREFIX says otherwise (dtx-debug, dtx-release; the Swarm
// stack dtx). The compose files default to the same:
// name: ${COMPOSE_PROJECT_PREFIX:-dtx}-<env> (a test keeps them equal).
const DefaultPrefix = "dtx"

// DefaultRegistry is where the images live unless REGISTRY says otherwise.
const DefaultRegistry = "ghcr.io/kettleofketchup/dtx_website"

// Environment is one docker compose stack: its compose file and its env file,
// both relative to the project root.
type Environment struct {
	Name        string
	ComposeFile string
	EnvFile     string
}

// LocalEnvFile is the uncommitted file beside EnvFile that holds secrets and
// personal overrides; it wins over EnvFile and loses to the process environment.
func (e Environment) LocalEnvFile() string { return e.EnvFile + ".local" }

// EnvOverrideFile is the compose file the tool generates beside EnvFile
// (git-ignored) so that the services reading the env files through env_file
// take each of their keys from the project environment: the process
// environment wins inside the containers too. It holds names only.
func (e Environment) EnvOverrideFile() string { return e.EnvFile + ".compose.yaml" }

// Environments are the four stacks, in the order they are usually met.
var Environments = []Environment{
	{Name: "debug", ComposeFile: "docker-compose.debug.yaml", EnvFile: "docker/.env.dev"},
	{Name: "test", ComposeFile: "docker-compose.test.yaml", EnvFile: "docker/.env.test"},
	{Name: "prod", ComposeFile: "docker-compose.prod.yaml", EnvFile: "docker/.env.prod"},
	{Name: "release", ComposeFile: "docker-compose.release.yaml", EnvFile: "docker/.env.release"},
}

// LookupEnvironment returns the environment called name.
func LookupEnvironment(name string) (Environment, error) {
	for _, e := range Environments {
		if e.Name == name {
			return e, nil
		}
	}
	return Environment{}, fmt.Errorf("unknown environment %q: use one of %s", Clip(name), strings.Join(EnvironmentNames(), ", "))
}

// EnvironmentNames lists the names of Environments.
func EnvironmentNames() []string {
	names := make([]string, len(Environments))
	for i, e := range Environments {
		names[i] = e.Name
	}
	return names
}
