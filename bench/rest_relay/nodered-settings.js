// Node-RED settings for the relay flow: HTTP nodes only, bound to loopback, no editor
// and no admin API. Port and user directory come from the environment (set by run.sh).
module.exports = {
    uiHost: '127.0.0.1',
    uiPort: Number(process.env.BENCH_NR_PORT),
    userDir: process.env.BENCH_NR_USERDIR,
    flowFile: 'flows.json',
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: '/',
    disableEditor: true,
    editorTheme: { projects: { enabled: false } },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    logging: { console: { level: 'warn', metrics: false, audit: false } },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    runtimeState: { enabled: false },
};
