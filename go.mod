module github.com/kettleofketchup/dtx_website

go 1.26.0

tool (
	github.com/magefile/mage
	github.com/rhysd/actionlint/cmd/actionlint
)

require (
	github.com/compose-spec/compose-go/v2 v2.16.2
	github.com/distribution/reference v0.5.0
	github.com/magefile/mage v1.17.2
	github.com/sirupsen/logrus v1.10.2
	golang.org/x/mod v0.43.0
	golang.org/x/term v0.48.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/bmatcuk/doublestar/v4 v4.10.0 // indirect
	github.com/clipperhouse/uax29/v2 v2.7.0 // indirect
	github.com/docker/go-connections v0.4.0 // indirect
	github.com/docker/go-units v0.5.0 // indirect
	github.com/fatih/color v1.19.0 // indirect
	github.com/go-viper/mapstructure/v2 v2.4.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/mattn/go-runewidth v0.0.21 // indirect
	github.com/mattn/go-shellwords v1.0.12 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/rhysd/actionlint v1.7.7 // indirect
	github.com/robfig/cron/v3 v3.0.1 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.1 // indirect
	github.com/xhit/go-str2duration/v2 v2.1.0 // indirect
	go.yaml.in/yaml/v4 v4.0.0-rc.4 // indirect
	golang.org/x/sync v0.20.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.14.0 // indirect
)

// A copy of jsonschema that compiles its metaschemas on first use instead
// of at start: every run of the tool links it (through compose-go), and
// most runs never validate a compose file. See third_party/README.md.
replace github.com/santhosh-tekuri/jsonschema/v6 => ./third_party/jsonschema

// distribution/reference compiles its eleven regular expressions in its
// package's initialisation: 1.4 ms and 400 kB at every start of the tool
// (compose-go links it), for targets that parse no image reference. See
// third_party/README.md.
replace github.com/distribution/reference => ./third_party/reference

// go-digest compiles five regular expressions in its package's
// initialisation (0.3 ms and 90 kB at every start of the tool, through
// compose-go and reference), for targets that validate no digest. See
// third_party/README.md.
replace github.com/opencontainers/go-digest => ./third_party/digest
