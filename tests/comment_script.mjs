// Runs the comment workflow's github-script under a stubbed GitHub API, as actions/github-script
// runs it (an async function of require, context, github, core), in a folder holding the artifact.
// Usage: node comment_script.mjs SCRIPT_FILE SCENARIO_JSON; prints the API calls made, as JSON.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [scriptFile, scenarioFile] = process.argv.slice(2);
const script = readFileSync(scriptFile, 'utf8');
const scenario = JSON.parse(readFileSync(scenarioFile, 'utf8'));
const calls = [];
const api = (name, answer) => async (args) => { calls.push({ call: name, ...args }); return { data: answer(args) }; };
const github = {
  rest: {
    pulls: { list: api('pulls.list', () => scenario.open_pulls) },
    issues: {
      listComments: api('issues.listComments', () => scenario.comments),
      updateComment: api('issues.updateComment', () => ({})),
      createComment: api('issues.createComment', () => ({})),
    },
  },
  paginate: async (method, args) => (await method(args)).data,
};
const context = { repo: { owner: 'acme', repo: 'shop' }, payload: scenario.payload };
const core = { notice: (m) => calls.push({ call: 'notice', message: m }) };
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
await new AsyncFunction('require', 'context', 'github', 'core', script)(createRequire(import.meta.url), context, github, core);
console.log(JSON.stringify(calls));
