# shellcheck shell=bash
# The command line of every benchmark script, parsed one way:
#
#   parse_options NAME=VARIABLE... -- "$@"
#
# sets VARIABLE from `--NAME VALUE` or `--NAME=VALUE` for each declared option, keep=1 from
# --keep, calls the script's `usage` for -h/--help, and exits 2 on anything else.
parse_options() {
    local -A target=()
    while (($#)) && [[ $1 != -- ]]; do
        target[${1%%=*}]=${1#*=}
        shift
    done
    shift
    local arg name value
    while (($#)); do
        arg=$1
        shift
        case $arg in
            --keep) keep=1; continue ;;
            -h | --help) usage; exit 0 ;;
            --?*=*) name=${arg%%=*}; name=${name#--}; value=${arg#*=} ;;
            --?*)
                name=${arg#--}
                if [[ -n ${target[$name]:-} ]]; then
                    (($#)) || { echo "run.sh: $arg needs a value" >&2; exit 2; }
                    value=$1
                    shift
                fi
                ;;
            *) name="" ;;
        esac
        if [[ -z $name || -z ${target[$name]:-} ]]; then
            echo "run.sh: unknown argument '$arg'" >&2
            usage >&2
            exit 2
        fi
        printf -v "${target[$name]}" '%s' "$value"
    done
}
