package launcher

// bashCompletion completes targets (from the tool's own -l), environments
// (from the docker-compose.<env>.yaml files in the current folder) and the
// services of stack:exec (from docker compose config).
const bashCompletion = `# bash completion for the dtx launcher: source <(./dtx -completion bash)
_dtx() {
	# The line up to the cursor, split on blanks only: COMP_WORDBREAKS would
	# split stack:ps at its colon.
	local line=${COMP_LINE:0:COMP_POINT} cur words target="" pos=0 i
	read -ra words <<<"$line"
	[[ $line == *[[:blank:]] ]] && words+=("")
	cur=${words[${#words[@]}-1]}
	for ((i = 1; i < ${#words[@]} - 1; i++)); do
		if [[ -z $target ]]; then
			case ${words[i]} in
			-t) ((i++)) ;;
			-*) ;;
			*) target=${words[i]} ;;
			esac
		else
			((pos++))
		fi
	done
	local candidates
	if [[ -z $target ]]; then
		candidates=$("${words[0]}" -l 2>/dev/null | awk 'listing && /^  [^ ]/ { sub(/\*$/, "", $1); print $1 } /^Targets:/ { listing = 1 }')
		[[ $cur == -* ]] && candidates="-l -h -v -t -completion"
	else
		case $target:$pos in
		stack:*:0)
			local f
			for f in docker-compose.*.yaml; do
				[[ -e $f ]] || continue
				f=${f#docker-compose.}
				candidates+=" ${f%.yaml}"
			done
			;;
		stack:exec:1)
			candidates=$(docker compose -f "docker-compose.${words[i - 1]}.yaml" config --no-interpolate --services 2>/dev/null)
			;;
		esac
	fi
	COMPREPLY=()
	local c
	for c in $(compgen -W "$candidates" -- "$cur"); do
		# Completions replace only the part after the last colon.
		[[ $cur == *:* ]] && c=${c#"${cur%:*}":}
		COMPREPLY+=("$c")
	done
}
complete -F _dtx dtx ./dtx
`
