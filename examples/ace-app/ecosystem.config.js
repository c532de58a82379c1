// pm2 process file. The release module starts the app from /opt/apps/active with it;
// DATABASE_URL comes from the environment pm2 is started with (e.g. an env file the
// release playbook writes), never from this file.
module.exports = {
  apps: [
    {
      name: 'ace-app',
      script: 'server.js',
      cwd: __dirname,
      instances: 1,
      exec_mode: 'fork',
      env: {
        NODE_ENV: 'production',
        PORT: 3000,
      },
      kill_timeout: 6000,
    },
  ],
};
