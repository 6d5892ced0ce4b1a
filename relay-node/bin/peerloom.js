#!/usr/bin/env node
import { launch } from './launch.js'

await launch('peerloom', 'src/main/peerloom.ts')
